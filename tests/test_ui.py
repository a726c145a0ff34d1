"""The store for people: runs_flat, `python -m store` in a terminal, and `make ui` in a real browser."""
import csv
import io
import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import (QUICK_VALUES, REPO, SWEEP_DEADLINE, UI, as_record, fetch, remount, runner_cmd, small_disk,
                      write_sweep)
from mlp.options import RUN_OPTION_NAMES, resolve_config
from runner.pipeline import open_store
from store import RunStore

CHROMIUM = shutil.which("chromium")


def store_with_runs(path):
    store = open_store(path)
    runs = [({"optimizer": "adam", "learning_rate": 0.001, "num_layers": 2, "hidden_size": [64, 32]},
             {"status": "finished", "val_acc": 0.91, "test_acc": 0.9, "test_f1": 0.89}),
            ({"optimizer": "sgd", "learning_rate": 0.1}, {"status": "stopped", "val_acc": 0.5, "test_acc": 0.52}),
            ({"optimizer": "nag", "learning_rate": 1e9}, {"status": "diverged", "error": "loss became nan"})]
    for options, fields in runs:
        epochs = [{"epoch": e, "val_acc": 0.1 * e} for e in (1, 2, 3)] if fields["status"] != "diverged" else []
        store.record("demo", as_record(resolve_config({**QUICK_VALUES, **options}), {**fields, "epochs": epochs}))
    return store


def test_runs_flat_has_each_option_as_a_column(tmp_path):
    """The view: every option of the configuration is a column (width the first layer's), so a tool can facet by
    optimizer or sort by learning rate with no json_extract."""
    store = store_with_runs(tmp_path / "runs.db")
    rows = list(store.db.query("SELECT * FROM runs_flat ORDER BY id"))
    for row, run in zip(rows, store.runs()):
        for name in RUN_OPTION_NAMES:
            stored = run["config"][name]
            assert row[name] == (json.dumps(stored, separators=(",", ":")) if isinstance(stored, list) else stored)
        assert row["width"] == run["config"]["hidden_size"][0] and row["status"] == run["status"]
        assert row["val_acc"] == run["val_acc"]
    by_optimizer = dict(store.db.execute("SELECT optimizer, COUNT(*) FROM runs_flat GROUP BY optimizer").fetchall())
    assert by_optimizer == {"adam": 1, "nag": 1, "sgd": 1}
    assert [r["width"] for r in rows] == [64, 16, 16]


def test_a_new_option_is_a_column_of_runs_flat_with_no_migration(tmp_path):
    """The option table's defaults name the view's columns: a store opened by code with one more option shows it
    beside the others at once, with no schema migration."""
    store = store_with_runs(tmp_path / "runs.db")
    version = store.schema_version
    store.close()
    wider = RunStore(tmp_path / "runs.db", key_defaults={**resolve_config({}), "label_smoothing": 0.0})
    assert wider.schema_version == version
    columns = [c.name for c in wider.db["runs_flat"].columns]
    assert columns[3:3 + len(RUN_OPTION_NAMES) + 1] == [*RUN_OPTION_NAMES, "label_smoothing"]
    assert [row["optimizer"] for row in wider.db.query("SELECT optimizer FROM runs_flat ORDER BY id")] == \
        ["adam", "sgd", "nag"]


def store_cli(db, *args):
    return subprocess.run([sys.executable, "-m", "store", "--db", str(db), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_store_list_prints_an_aligned_table_csv_or_json(tmp_path):
    store_with_runs(tmp_path / "runs.db")
    table = store_cli(tmp_path / "runs.db", "list", "--sort", "val_acc")
    assert table.returncode == 0 and table.stderr == ""
    header, rule, *rows = table.stdout.splitlines()
    assert header.split()[:3] == ["id", "sweep", "status"] and set(rule) == {"-", " "}
    starts = [i for i, c in enumerate(rule) if c == "-" and (i == 0 or rule[i - 1] == " ")]
    for row in rows:  # every cell starts where its column does (an empty one leaves its column blank)
        assert {m.start() for m in re.finditer(r"\S+", row)} <= set(starts), row
    assert [r.split()[0] for r in rows] == ["1", "2", "3"], "sorted by val_acc, highest first (no value last)"
    assert "2x64" not in table.stdout and "64x32" in rows[0]
    as_csv = list(csv.DictReader(io.StringIO(store_cli(tmp_path / "runs.db", "list", "--csv").stdout)))
    assert [(r["id"], r["status"], r["optimizer"], r["val_acc"]) for r in as_csv] == \
        [("1", "finished", "adam", "0.91"), ("2", "stopped", "sgd", "0.5"), ("3", "diverged", "nag", "")]
    as_json = [json.loads(line) for line in store_cli(tmp_path / "runs.db", "list", "--json").stdout.splitlines()]
    assert [r["config"]["learning_rate"] for r in as_json] == [0.001, 0.1, 1e9]


def test_store_compare_shows_the_differing_options_and_the_metrics_side_by_side(tmp_path):
    store_with_runs(tmp_path / "runs.db")
    out = store_cli(tmp_path / "runs.db", "compare", "1", "2")
    assert out.returncode == 0 and out.stderr == ""
    lines = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines() if line.strip()}
    assert lines["run"] == ["1", "2"]
    assert lines["optimizer"] == ["adam", "sgd"] and lines["learning_rate"] == ["0.001", "0.1"]
    assert lines["hidden_size"] == ["64x32", "1x16"] and lines["val_acc"] == ["0.91", "0.5"]
    assert "dataset" not in lines and "dataset=mnist" in out.stdout.splitlines()[-1], "the same options, once"
    missing = store_cli(tmp_path / "runs.db", "compare", "1", "99")
    assert missing.returncode == 2 and missing.stderr.strip().endswith("no run with id 99")


def browser_dom(url):
    """The page's DOM once its scripts ran, in headless Chromium."""
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed here (`make browser` installs it)")
def test_make_ui_serves_datasettes_leaderboard_in_a_browser(tmp_path):
    store = store_with_runs(tmp_path / "runs.db")
    best = store.best("val_acc")
    store.close()
    before = (tmp_path / "runs.db").read_bytes()
    ui = UI(tmp_path / "runs.db")
    try:
        leaderboard = browser_dom(f"{ui.base}/leaderboard?sweep=demo")
        assert 'class="rows-and-columns"' in leaderboard
        assert leaderboard.count('<td class="col-id">') == 2, "the two evaluated runs; the diverged one is not ranked"
        assert f'<td class="col-id">{best["id"]}</td>' in leaderboard
        assert [r["epoch"] for r in ui.json("run_epochs", run_id=best["id"])] == [1, 2, 3]
    finally:
        ui.stop()
    assert (tmp_path / "runs.db").read_bytes() == before, "the UI wrote nothing"


@SWEEP_DEADLINE
def test_a_sweep_writes_while_the_ui_serves_and_both_finish(tmp_path):
    """The UI reads over read-only connections while a runner writes: every page load answers, the runner sees no
    lock, and the sweep summary shows each run as it lands."""
    sweep = write_sweep(tmp_path, "live", {"epochs": {"value": 2}, "seed": {"values": [0, 1, 2, 3]}})
    open_store(tmp_path / "runs.db").close()
    ui = UI(tmp_path / "runs.db")
    try:
        runner = subprocess.Popen(runner_cmd(sweep, tmp_path), cwd=REPO, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        loads = []
        while runner.poll() is None:  # as fast as it answers, for as long as the sweep runs
            loads.append(sum(row["finished"] for row in ui.json("sweep_summary")))
        out, err = runner.communicate()
        assert runner.returncode == 0 and "locked" not in err, err
        assert loads and set(loads) <= {0, 1, 2, 3, 4} and loads == sorted(loads), loads
        row, = ui.json("sweep_summary")
        assert (row["sweep"], row["runs"], row["finished"], row["running"], row["failed"]) == ("live", 4, 4, 0, 0)
    finally:
        log = ui.stop()
    assert "Traceback" not in log and "locked" not in log and " 200 OK" in log


def test_make_ui_serves_a_store_on_a_read_only_disk_as_immutable(tmp_path):
    """SQLite could make no -shm file there: the store is served immutable, and its pages still answer."""
    with small_disk(tmp_path / "disk", 10) as disk:
        store_with_runs(disk / "runs.db").close()
        remount(disk, "ro")
        ui = UI(disk / "runs.db", log=tmp_path / "ui.log")
        try:
            databases = json.loads(fetch(f"http://127.0.0.1:{ui.port}/-/databases.json")[1])
            assert [(d["name"], d["is_mutable"]) for d in databases] == [("runs", False)]
            assert [r["id"] for r in ui.json("leaderboard", sweep="demo")] == [1, 2]
        finally:
            ui.stop()
