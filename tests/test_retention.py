"""runner/retention.py and runner/run_files.py: which runs keep their files, where the files go, and that a resume
or a moved store still finds them."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import runner_cmd
from mlp.options import resolve_config
from runner.job import JobResult
from runner.retention import Retention
from runner.run_files import save_files, stem
from store import RunRecord, RunStore, Status

ROOT = Path(__file__).resolve().parent.parent

def test_a_runs_files_are_its_weights_its_configuration_and_its_probes_in_the_shard_of_its_key(tmp_path):
    config, weights, probe = resolve_config({}), {"W0": np.ones((2, 3))}, {"grads": np.arange(4.0)}
    result = JobResult(RunRecord(config, "finished"), weights, probe)
    where = stem(tmp_path / "runs", "sweep", "0123456789abcdef", repeat=2)
    assert where == (tmp_path / "runs" / "sweep" / "01" / "0123456789abcdef-2").resolve()
    save_files(result, where)
    assert result.record.weights_path == f"{where}.npy" and result.record.probe_path == f"{where}.probe.npz"
    assert np.load(f"{where}.npy", allow_pickle=True).item()["W0"].tolist() == weights["W0"].tolist()
    text = Path(f"{where}.json").read_text()
    assert json.loads(text) == config
    keys = [line for line in text.splitlines() if line.startswith('  "')]
    assert len(keys) == len(config) and keys == sorted(keys), "for a reader: a key a line, two spaces in, sorted"
    assert np.load(f"{where}.probe.npz")["grads"].tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("policy, kept", [("all", {"finished", "stopped"}), ("finished", {"finished"}),
                                          ({"best": 3}, {"finished"})])
def test_each_policy_gives_files_to_the_runs_it_names(policy, kept):
    assert {s.value for s in Status if Retention(policy).keeps(s)} == kept
    assert {s.value for s in Status if Retention().keeps(s)} == {"finished"}, "the default: finished runs"


def files_under(folder):
    return sorted(p.relative_to(folder) for p in Path(folder).rglob("*") if p.is_file())


def test_a_sweep_that_keeps_its_best_two_leaves_their_files_only_and_a_resume_narrows_them(tmp_path):
    """Through the real command line: six runs whose learning rates spread their validation accuracy; the two best
    keep their three files each, in their shards; the store keeps every run's scores. Resumed with best 1, nothing
    trains and the second best's files go. Moved with its folder, the store still finds the weights it kept."""
    spec = {"name": "keep", "method": "grid", "keep_weights": {"best": 2}, "parameters": {
        "epochs": {"value": 1}, "train_size": {"value": 500}, "num_layers": {"value": 1}, "hidden_size": {"value": 8},
        "optimizer": {"value": "sgd"}, "learning_rate": {"values": [1e-5, 1e-4, 1e-3, 0.01, 0.05, 0.2]}}}
    sweep_file = tmp_path / "keep.yaml"
    sweep_file.write_text(yaml.safe_dump(spec))
    out = subprocess.run(runner_cmd(sweep_file, tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    store = RunStore(tmp_path / "runs.db", create=False)
    runs = store.runs(sweep="keep")
    assert len(runs) == 6 and all(r["status"] == "finished" and r["val_acc"] is not None for r in runs)
    ranked = sorted(runs, key=lambda r: (-r["val_acc"], r["id"]))
    assert {r["id"] for r in runs if r["weights_path"]} == {r["id"] for r in ranked[:2]}
    expected = sorted(Path("keep") / r["config_hash"][:2] / f"{r['config_hash']}{suffix}" for r in ranked[:2]
                      for suffix in (".json", ".npy", ".probe.npz"))
    assert files_under(tmp_path / "runs") == expected
    assert all(r["probe_path"] is None and r["weights_sha256"] is None for r in ranked[2:])
    store.close()

    sweep_file.write_text(yaml.safe_dump({**spec, "keep_weights": {"best": 1}}))
    out = subprocess.run(runner_cmd(sweep_file, tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert files_under(tmp_path / "runs") == [p for p in expected if p.stem.startswith(ranked[0]["config_hash"])]

    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(tmp_path / "runs.db", moved / "runs.db")
    shutil.move(tmp_path / "runs", moved / "runs")
    best = RunStore(moved / "runs.db", create=False).get(ranked[0]["id"])
    assert Path(best["weights_path"]).is_file() and best["weights_path"].startswith(str(moved))


class Paths:
    """The part of a store a retention policy calls: which runs' files it lets go."""

    def __init__(self):
        self.forgotten = []

    def forget_files(self, run_id):
        self.forgotten.append(run_id)


@pytest.mark.parametrize("goal, dropped", [("maximize", [1, 4]), ("minimize", [2, 4])])
def test_best_n_lets_go_of_the_worst_and_on_a_tie_of_the_later_run_and_a_rerun_counts_once(goal, dropped):
    store, retention = Paths(), Retention({"best": 2}, "val_acc", goal)
    for run_id, value in ((1, 0.5), (2, 0.9), (3, 0.7)):
        retention.recorded(store, run_id, RunRecord({}, "finished", scores={"val_acc": value}, weights_path="w"))
    retention.recorded(store, 4, RunRecord({}, "finished", scores={"val_acc": 0.7}, weights_path="w"))
    assert store.forgotten == dropped
    retention.recorded(store, 2 if goal == "maximize" else 1, RunRecord({}, "finished", scores={"val_acc": 0.1},
                                                                          weights_path="w"))
    kept = {-run_id for _, run_id in retention.kept}
    assert len(retention.kept) == 2 and len(kept) == 2, "a run trained again is kept once, at its new result"
    assert store.forgotten == dropped, "two runs have files, and two are kept: none goes"
