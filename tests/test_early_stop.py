"""runner/early_stop.py: the median and hyperband rules against textbook quantiles, judged on validation accuracy only."""
import pytest

from runner.early_stop import EarlyTermination, StopTraining
from runner.job import JobContext, _epoch_observer
from runner.live import LiveWriter
from runner.tracking import start_run
from store import RunRecord


def test_hyperband_at_eta_3_stops_below_the_two_thirds_quantile():
    rule = EarlyTermination("hyperband", min_iter=1, eta=3)
    assert [e for e in range(1, 28) if rule.checks_at(e)] == [1, 3, 9, 27]
    peers = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]  # 2/3 quantile 0.5 (position 4 of 0..6); 1/3 quantile 0.3
    assert rule.should_stop(3, 0.4, peers)  # between the two quantiles: below 1 - 1/eta's, so stopped
    assert not rule.should_stop(3, 0.55, peers)
    assert not rule.should_stop(2, 0.0, peers)  # not a rung
    assert not rule.should_stop(3, 0.0, peers[:2])  # too few peers to judge: fewer than eta
    assert rule.should_stop(3, 0.0, peers[:3])


def test_hyperband_judges_from_eta_peers_and_the_median_rule_from_four():
    """A top-1/eta cut needs eta runs besides the one judged: hyperband at eta 2 judges the third run of a sweep,
    so the first runs are not all trained to the end; the median rule waits for four."""
    hyperband, median = EarlyTermination("hyperband", min_iter=1, eta=2), EarlyTermination("median", min_iter=1)
    assert hyperband.bar(1, [0.5]) is None and hyperband.bar(1, [0.4, 0.6]) == pytest.approx(0.5)
    assert median.bar(1, [0.4, 0.5, 0.6]) is None and median.bar(1, [0.4, 0.5, 0.6, 0.7]) == pytest.approx(0.55)
    assert EarlyTermination("hyperband", min_iter=1, eta=2.5).min_peers == 3


def test_the_median_rule_stops_only_runs_strictly_below_the_median():
    rule = EarlyTermination("median", min_iter=1)
    peers = [0.1, 0.2, 0.3, 0.4, 0.5]  # median 0.3; the 2/3 quantile hyperband would use is about 0.37
    assert rule.should_stop(1, 0.29, peers)
    assert not rule.should_stop(1, 0.3, peers)  # at the median is not below it
    assert not rule.should_stop(1, 0.33, peers)


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
    observe = _epoch_observer(ctx, record, start_run("disabled"), {1: [0.5] * 4}, None, LiveWriter(None))
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
    assert not rule.should_stop(1, 0.2, odd)  # above the median, below the mean
    assert rule.should_stop(1, 0.115, odd)
    assert not rule.should_stop(1, 0.3, even)  # above the median of an even count (between its middle two)
    assert rule.should_stop(1, 0.24, even)
