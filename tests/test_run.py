"""store/run.py: a run's statuses and their legal moves, and the record of how it ended (Optuna's TrialState)."""
import pytest

from store import FINAL, METRICS, RunRecord, Status

OUTCOMES = [Status.FINISHED, Status.FAILED, Status.DIVERGED, Status.STOPPED]


def test_final_is_finished_diverged_and_stopped():
    assert {s for s in Status if s.is_final} == {Status.FINISHED, Status.DIVERGED, Status.STOPPED} == FINAL
    assert [s for s in Status if s.is_outcome] == OUTCOMES
    assert {s for s in Status if s.keeps_files} == {Status.FINISHED, Status.STOPPED}


@pytest.mark.parametrize("before", list(Status))
@pytest.mark.parametrize("after", list(Status))
def test_the_legal_moves(before, after):
    """running ends in any outcome or is taken over (running again); failed may become anything; a final status
    only running again, and only for a rerun."""
    expected = {Status.RUNNING: True, Status.FAILED: True}.get(before, after is Status.RUNNING and "rerun")
    assert before.may_become(after) == (expected is True)
    assert before.may_become(after, rerun=True) == bool(expected)


def test_a_status_is_its_name_for_sqlite_and_people():
    assert Status("stopped") is Status.STOPPED and Status.STOPPED == "stopped" and str(Status.STOPPED) == "stopped"
    with pytest.raises(ValueError):
        Status("paused")


def test_a_record_takes_status_names_and_only_known_scores():
    record = RunRecord(config={"seed": 1}, status="diverged", scores={"val_acc": 0.5})
    assert record.status is Status.DIVERGED and record.epochs == [] and record.traceback is None
    with pytest.raises(ValueError, match="^unknown scores accuracy, f1; the metrics are train_loss, train_acc, val_loss, "):
        RunRecord(config={}, status="finished", scores={"f1": 0.5, "accuracy": 0.5})
    assert set(METRICS) == {f"{split}_{name}" for split in ("train", "val", "test") for name in ("loss", "acc")} | \
        {"val_f1", "test_precision", "test_recall", "test_f1"}
