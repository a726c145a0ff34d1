"""runner/early_stop.py: the median and hyperband rules against textbook quantiles, judged on validation accuracy only."""
import numpy as np
import pytest

from runner.early_stop import Bar, EarlyTermination, StopTraining
from runner.job import JobContext, _epoch_observer
from runner.live import LiveWriter
from runner.tracking import start_run
from store import RunRecord


def observer(rule_type, bars):
    """The epoch observer of a job sent with ``bars``, under a rule of ``rule_type``."""
    ctx = JobContext(early_terminate={"type": rule_type, "min_iter": 1}, wandb_mode="disabled")
    return _epoch_observer(ctx, RunRecord(config={}, status="running"), start_run("disabled"), bars, None,
                           LiveWriter(None))


def stops(observe, val_acc, epoch=1):
    try:
        observe({"epoch": epoch, "val_acc": val_acc})
    except StopTraining:
        return True
    return False


def test_hyperband_at_eta_3_sets_its_bar_at_the_two_thirds_quantile():
    rule = EarlyTermination("hyperband", min_iter=1, eta=3)
    assert [e for e in range(1, 28) if rule.checks_at(e)] == [1, 3, 9, 27]
    peers = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]  # 2/3 quantile 0.5 (position 4 of 0..6); 1/3 quantile 0.3
    assert rule.bar(3, peers) == (pytest.approx(0.5), 7)
    assert rule.bar(2, peers) is None  # not a rung
    assert rule.bar(3, peers[:2]) is None  # too few peers to judge: fewer than eta
    assert rule.bar(3, peers[:3]) == (pytest.approx(0.2 + 0.1 / 3), 3)  # position 4/3 of 0..2


@pytest.mark.parametrize("kind, eta", [("median", 3), ("hyperband", 3), ("hyperband", 2.5)])
def test_a_bar_is_the_quantile_numpy_gives_by_default(kind, eta):
    rule = EarlyTermination(kind, min_iter=1, eta=eta)
    for size in (4, 5, 8, 1000):
        ranked = np.sort(np.random.default_rng(size).random(size))
        quantile = 0.5 if kind == "median" else 1 - 1 / eta
        assert rule.bar(1, list(ranked)) == (pytest.approx(float(np.quantile(ranked, quantile)), abs=1e-12), size)


def test_hyperband_judges_from_eta_peers_and_the_median_rule_from_four():
    """A top-1/eta cut needs eta runs besides the one judged: hyperband at eta 2 judges the third run of a sweep,
    so the first runs are not all trained to the end; the median rule waits for four."""
    hyperband, median = EarlyTermination("hyperband", min_iter=1, eta=2), EarlyTermination("median", min_iter=1)
    assert hyperband.bar(1, [0.5]) is None and hyperband.bar(1, [0.4, 0.6]).value == pytest.approx(0.5)
    assert median.bar(1, [0.4, 0.5, 0.6]) is None and median.bar(1, [0.4, 0.5, 0.6, 0.7]).value == pytest.approx(0.55)
    assert EarlyTermination("hyperband", min_iter=1, eta=2.5).min_peers == 3


def test_a_job_stops_only_strictly_below_its_bar_and_only_at_the_epochs_it_was_sent_bars_for():
    rule = EarlyTermination("median", min_iter=1)
    bars = {1: rule.bar(1, [0.1, 0.2, 0.3, 0.4, 0.5])}  # median 0.3; hyperband's 2/3 quantile would be about 0.37
    assert bars[1] == (pytest.approx(0.3), 5)
    assert stops(observer("median", bars), 0.29)
    assert not stops(observer("median", bars), bars[1].value)  # at the median is not below it
    assert not stops(observer("median", bars), 0.33)
    assert not stops(observer("median", bars), 0.0, epoch=2), "no bar was sent for epoch 2"
    with pytest.raises(StopTraining, match=r"^median rule at epoch 1: val_acc 0.2900 below the bar 0.3000 of 5 runs$"):
        observer("median", bars)({"epoch": 1, "val_acc": 0.29})


def test_hyperband_defaults_to_min_iter_3_and_eta_3():
    for rule in (EarlyTermination("hyperband"), EarlyTermination.from_spec({"type": "hyperband"})):
        assert [e for e in range(1, 28) if rule.checks_at(e)] == [3, 9, 27]


def test_a_sweep_files_early_terminate_block_sets_min_iter_and_eta():
    rule = EarlyTermination.from_spec({"type": "hyperband", "min_iter": 2, "eta": 2})
    assert [e for e in range(1, 17) if rule.checks_at(e)] == [2, 4, 8, 16]
    assert EarlyTermination.from_spec(None) is None and EarlyTermination.from_spec({}) is None


@pytest.mark.parametrize("train_acc, val_acc, stopped", [(0.99, 0.10, True), (0.10, 0.99, False)])
def test_early_termination_follows_validation_accuracy(train_acc, val_acc, stopped):
    ctx = JobContext(early_terminate={"type": "median", "min_iter": 1}, wandb_mode="disabled")
    record = RunRecord(config={}, status="running")
    observe = _epoch_observer(ctx, record, start_run("disabled"), {1: Bar(0.5, 4)}, None, LiveWriter(None))
    metrics = {"epoch": 1, "train_loss": 0.1, "train_acc": train_acc, "val_loss": 0.1, "val_acc": val_acc}
    if stopped:
        with pytest.raises(StopTraining):
            observe(metrics)
    else:
        observe(metrics)
    assert record.epochs == [metrics]


def test_the_median_rule_uses_the_median_of_skewed_peers_not_their_mean():
    """Two runs far ahead pull the mean up; the median is what the rule is named for."""
    rule = EarlyTermination("median", min_iter=1)
    odd, even = [0.1, 0.11, 0.12, 0.95, 0.96], [0.1, 0.2, 0.3, 0.95]  # medians 0.12 and 0.25; means 0.448, 0.3875
    assert rule.bar(1, odd).value == pytest.approx(0.12)  # not the mean, 0.448
    assert rule.bar(1, even).value == pytest.approx(0.25)  # between the middle two of an even count, not 0.3875
