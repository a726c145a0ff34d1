"""The dashboard (`make ui`) in a real browser: Debian's Chromium driven by Playwright, reached by clicking from the
home page as a person would, with every request checked to stay on this machine.

Screenshots of each page are saved in the test's folder, and also in $DASHBOARD_SCREENSHOTS when it is set
(`make screenshots` sets it to docs/images, for docs/store.md)."""
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from conftest import QUICK_VALUES, REPO, UI, as_record, runner_cmd, write_sweep
from dashboard import app, data
from mlp import NeuralNetwork
from mlp.data import load_uint8, validation_split
from mlp.inputs import to_unit_float
from mlp.model_io import load_weights
from mlp.options import resolve_config
from reports.queries import hyperparameter_importance
from runner.job import N_PROBE_IMAGES, JobContext
from runner.pipeline import open_store, run_pipeline
from runner.proposers import FixedProposer
from runner.workers import InProcessWorkers

CHROMIUM = shutil.which("chromium")
IN_A_BROWSER = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed here (`make install` "
                                                           "installs it with apt, as root)")
LIVE_DEADLINE = 300_000  # ms: only guards against a hang; every wait ends on what the page shows

# (optimizer, learning rate, status, validation accuracy by epoch): the runs of the hand-made sweep
DEMO = [("adam", 0.001, "finished", [0.5, 0.8, 0.93]),
        ("sgd", 0.1, "finished", [0.4, 0.7, 0.85]),
        ("nag", 0.01, "stopped", [0.3, 0.6]),
        ("adam", 0.0003, "finished", [0.45, 0.75, 0.9])]
STOP_REASON = "hyperband rule at epoch 2: val_acc 0.6000 below the bar 0.7000 of 2 runs"


def demo_store(path):
    store = open_store(path)
    for optimizer, rate, status, accs in DEMO:
        epochs = [{"epoch": e, "val_acc": a, "train_acc": a, "val_loss": 1 - a, "train_loss": 1 - a, "seconds": 1.0}
                  for e, a in enumerate(accs, 1)]
        store.record("demo", as_record(resolve_config({**QUICK_VALUES, "optimizer": optimizer, "learning_rate": rate}),
                                       {"status": status, "val_acc": accs[-1], "test_acc": accs[-1] - 0.01,
                                        "epochs": epochs, "error": STOP_REASON if status == "stopped" else None}))
    return store


class Browser:
    """One headless Chromium page that records every host it asks and every script error."""

    def __init__(self, playwright, shots):
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        self.page = self.browser.new_page(viewport={"width": 1280, "height": 900})
        self.hosts, self.errors, self.shots = set(), [], shots
        self.page.on("request", lambda request: self.hosts.add(request.url.split("/")[2]))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def labels(self, chart):
        """The aria-labels of a chart's marks: Vega writes each mark's data there."""
        return self.page.eval_on_selector_all(f"#{chart} svg [aria-label]",
                                              "marks => marks.map(m => m.getAttribute('aria-label'))")

    def shot(self, name):
        self.page.screenshot(path=self.shots / f"dashboard-{name}.png", full_page=True)
        if os.environ.get("DASHBOARD_SCREENSHOTS"):
            folder = Path(os.environ["DASHBOARD_SCREENSHOTS"])
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.shots / f"dashboard-{name}.png", folder)

    def close(self):
        self.browser.close()


@pytest.fixture
def browser(tmp_path):
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - a dev dependency

    with sync_playwright() as playwright:
        page = Browser(playwright, tmp_path)
        try:
            yield page
        finally:
            page.close()


def fields(label):
    """'epoch: 1; value: 0.5; run_id: 3' -> {'epoch': '1', 'value': '0.5', 'run_id': '3'}."""
    return dict(part.split(": ", 1) for part in label.split("; ") if ": " in part)


@IN_A_BROWSER
def test_from_the_home_page_a_click_reaches_a_sweep_whose_charts_are_the_stores_numbers(tmp_path, browser):
    store = demo_store(tmp_path / "runs.db")
    runs = store.runs(sweep="demo")
    ranking = [r["parameter"] for r in hyperparameter_importance(store, "demo")]
    store.close()
    before = (tmp_path / "runs.db").read_bytes()
    ui = UI(tmp_path / "runs.db")
    page = browser.page
    try:
        page.goto(ui.home)
        row = page.wait_for_selector('#sweeps tr[data-sweep="demo"]')
        assert row.inner_text().split("\t")[:4] == ["demo", "4", "3", "1"]  # runs, finished, stopped
        browser.shot("home")
        page.click("#sweeps >> text=demo")
        for chart in ("curves", "progress-epochs", "parallel", "importance"):
            page.wait_for_selector(f"#{chart} svg")
        browser.shot("sweep")

        first_points = {fields(label)["run_id"]: float(fields(label)["value"])
                        for label in browser.labels("curves") if "run_id" in label and "why" not in label}
        assert first_points == {str(r["id"]): DEMO[i][3][0] for i, r in enumerate(runs)}, "a line per run, from epoch 1"
        stops = [fields(label) for label in browser.labels("curves") if "why" in label]
        assert [(s["run_id"], s["epoch"], float(s["value"]), s["why"]) for s in stops] == \
            [(str(runs[2]["id"]), "2", 0.6, STOP_REASON)], "the stopped run ends in a mark at its rung"
        assert f"The best run, {runs[0]['id']}, is red." in page.inner_text("#curves-note")
        assert "4 of 4 runs drawn as lines" in page.inner_text("#curves-note")

        bars = [fields(label)["parameter"] for label in browser.labels("importance") if "parameter" in label]
        assert bars == ranking and set(bars) == {"optimizer", "learning_rate"}, "report 2.2's own ranking"
        assert "as report 2.2 computes it" in page.inner_text("#importance-note")
        lines = {fields(label)["run_id"] for label in browser.labels("parallel") if "hyperparameter" in label}
        assert lines == {str(r["id"]) for r in runs}

        page.check(f'#best-runs tr[data-run="{runs[0]["id"]}"] input')
        page.check(f'#best-runs tr[data-run="{runs[2]["id"]}"] input')
        page.click("#compare-selected")
        page.wait_for_selector("#compare-curves svg")
        options = page.locator("#compare-options tbody tr")
        every = options.count()
        page.check("#differences-only")
        shown = [options.nth(i).inner_text().split("\t")[0] for i in range(every) if options.nth(i).is_visible()]
        assert sorted(shown) == ["learning_rate", "optimizer"] and every > 10, "only the options that differ"
        browser.shot("compare")
        page.uncheck("#differences-only")
        assert sum(options.nth(i).is_visible() for i in range(every)) == every

        page.click(f'#compare-options thead >> text=run {runs[2]["id"]}')
        page.wait_for_selector("#run-accuracy svg")
        facts = dict(r.split("\t", 1) for r in page.locator("#run-facts tbody tr").all_inner_texts())
        assert (facts["status"], facts["why it ended"], facts["val acc"]) == ("stopped", STOP_REASON, "0.6000")
        assert browser.errors == []
        assert browser.hosts == {f"127.0.0.1:{ui.port}"}, f"a request left the machine: {browser.hosts}"
    finally:
        log = ui.stop()
    assert "Traceback" not in log
    assert (tmp_path / "runs.db").read_bytes() == before, "the dashboard wrote nothing"


@IN_A_BROWSER
def test_an_open_sweep_page_gains_the_runs_two_runners_write_without_a_reload(tmp_path, browser):
    sweep = write_sweep(tmp_path, "live", {"epochs": {"value": 2}, "seed": {"values": list(range(6))}})
    open_store(tmp_path / "runs.db").close()
    ui = UI(tmp_path / "runs.db")
    page = browser.page
    runners = []
    try:
        page.goto(ui.home)
        page.wait_for_selector("#sweeps-note:has-text('No runs yet')")
        runners = [subprocess.Popen(runner_cmd(sweep, tmp_path, jobs=1), cwd=REPO, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        page.click('#sweeps >> text=live', timeout=LIVE_DEADLINE)  # the home page lists the sweep once it has a run
        page.wait_for_url("**/-/sweep/live")
        page.wait_for_selector("#curves-note")
        page.evaluate("window.notReloaded = true")
        page.wait_for_function("document.getElementById('curves-note').textContent.startsWith('6 of 6 runs')"
                               " && document.getElementById('sweep-counts').textContent.includes('6 finished')",
                               timeout=LIVE_DEADLINE)
        assert page.evaluate("window.notReloaded") is True, "the page updated itself"
        for runner in runners:
            out, err = runner.communicate(timeout=LIVE_DEADLINE / 1000)
            assert runner.returncode == 0 and "locked" not in err, err
        assert "6 runs: 6 finished" in page.inner_text("#sweep-counts")
        assert browser.errors == [] and browser.hosts == {f"127.0.0.1:{ui.port}"}
    finally:
        for runner in runners:
            runner.kill()
        log = ui.stop()
    assert "Traceback" not in log and "locked" not in log



def test_a_sweep_larger_than_its_charts_draws_its_best_runs_and_says_how_many(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CURVE_LINES", 3)
    monkeypatch.setattr(data, "PARALLEL_RUNS", 4)
    store = open_store(tmp_path / "runs.db")
    for i in range(10):
        store.record("big", as_record(resolve_config({**QUICK_VALUES, "learning_rate": 0.001 * (i + 1)}),
                                      {"status": "finished", "val_acc": 0.5 + i / 100,
                                       "epochs": [{"epoch": 1, "val_acc": 0.3}, {"epoch": 2, "val_acc": 0.5 + i / 100}]}))
    settled, live = data.sweep_settled(store, "big"), data.sweep_live(store, "big")
    curves, parallel = live["curves"], settled["parallel"]
    assert (curves["shown"], curves["total"], curves["best"]) == (3, 10, 10)
    assert sorted({p["run_id"] for p in curves["lines"]}) == [8, 9, 10], "the three best by validation accuracy"
    assert [(b["epoch"], b["runs"]) for b in curves["band"]] == [(1, 10), (2, 10)], "the band holds every run"
    assert (parallel["shown"], parallel["total"], parallel["names"]) == (4, 10, ["learning_rate"])
    assert [r["run_id"] for r in parallel["rows"]] == [10, 7, 4, 1], "spread down the ranking, best first"
    assert parallel["chosen"] == "one in 3 down the ranking by validation accuracy"
    assert settled["best_runs"]["total"] == 10 and [r["id"] for r in settled["best_runs"]["runs"]][:2] == [10, 9]


def test_a_run_in_training_is_drawn_beside_the_best_and_moves_only_the_live_part_of_the_page(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CURVE_LINES", 2)
    store = demo_store(tmp_path / "runs.db")
    run_id = store.claim("demo", resolve_config({**QUICK_VALUES, "optimizer": "rmsprop"}), "a runner", 600)
    settled_before, live_before = data.sweep_state(store, "demo")
    store.record_epoch(run_id, {"epoch": 1, "val_acc": 0.2})
    store.record_epoch(run_id, {"epoch": 2, "val_acc": 0.45})
    settled_after, live_after = data.sweep_state(store, "demo")
    assert settled_after == settled_before and live_after != live_before, "an epoch moves only the curves' key"
    live = data.sweep_live(store, "demo")
    assert [(r["id"], r["epochs_done"]) for r in live["in_flight"]] == [(run_id, 2)]
    drawn = [(p["run_id"], p["value"], p["status"]) for p in live["curves"]["lines"] if p["run_id"] == run_id]
    assert drawn == [(run_id, 0.2, "running"), (run_id, 0.45, "running")]
    assert live["curves"]["shown"] == 3 and live["curves"]["total"] == 5
    assert live["curves"]["chosen"] == "the best by validation accuracy, and every run in flight"


def test_importance_is_refitted_beside_the_server_and_each_answer_says_whether_it_is_current(tmp_path):
    """The first ask of a sweep's importance answers at once (no fit yet), and a later one gives report 2.2's
    ranking; a sweep that changed is answered with the last fit, marked not current, until its refit lands."""
    store = demo_store(tmp_path / "runs.db")
    path, (state, _) = str(tmp_path / "runs.db"), data.sweep_state(store, "demo")
    first = app._importance(path, "demo", state)
    assert (first["rows"], first["current"]) == ([], False)
    app._FITTER.submit(lambda: None).result()  # the fitter runs one fit at a time, in order
    fitted = app._importance(path, "demo", state)
    assert fitted["current"] and fitted["runs"] == 4
    assert [r["parameter"] for r in fitted["rows"]] == [r["parameter"] for r in hyperparameter_importance(store, "demo")]
    store.record("demo", as_record(resolve_config({**QUICK_VALUES, "optimizer": "sgd", "learning_rate": 0.2}),
                                   {"status": "finished", "val_acc": 0.7, "epochs": [{"epoch": 1, "val_acc": 0.7}]}))
    changed, _ = data.sweep_state(store, "demo")
    stale = app._importance(path, "demo", changed)
    assert (stale["rows"], stale["current"], stale["runs"]) == (fitted["rows"], False, 4)
    app._FITTER.submit(lambda: None).result()
    assert app._importance(path, "demo", changed)["runs"] == 5
    gone = str(tmp_path / "gone.db")
    app._importance(gone, "demo", state)
    app._FITTER.submit(lambda: None).result()
    failed = app._importance(gone, "demo", state)
    assert failed["rows"] == [] and failed["current"], "a fit that fails is said, and not tried again unchanged"
    assert failed["error"].startswith(f"importance could not be fitted: no run store at {gone}")


@IN_A_BROWSER
def test_an_open_sweep_page_draws_each_epoch_of_a_run_in_training_as_it_is_written(tmp_path, browser):
    store = demo_store(tmp_path / "runs.db")
    run_id = store.claim("demo", resolve_config({**QUICK_VALUES, "optimizer": "rmsprop"}), "a runner", 600)
    ui = UI(tmp_path / "runs.db")
    page = browser.page
    try:
        page.goto(ui.home)
        page.click("#sweeps >> text=demo")
        page.wait_for_selector("#in-flight:has-text('(0 epochs so far)')")
        page.evaluate("window.notReloaded = true")
        accs = [0.2, 0.45, 0.7]
        for epoch, acc in enumerate(accs, 1):
            store.record_epoch(run_id, {"epoch": epoch, "val_acc": acc, "train_acc": acc, "seconds": 1.0})
            page.wait_for_selector(f"#in-flight:has-text('{run_id} ({epoch} epochs so far)')", timeout=LIVE_DEADLINE)
            training = {int(fields(label)["epoch"]): float(fields(label)["value"]) for label in browser.labels("curves")
                        if fields(label).get("status") == "running"}  # its line, and a point at each epoch
            assert training == dict(enumerate(accs[:epoch], 1)), "the run in training is drawn to its newest epoch"
        assert page.evaluate("window.notReloaded") is True, "the page updated itself"
        browser.shot("sweep-live")
        assert browser.errors == [] and browser.hosts == {f"127.0.0.1:{ui.port}"}
    finally:
        log = ui.stop()
    assert "Traceback" not in log


@IN_A_BROWSER
def test_a_run_page_draws_the_confusion_matrix_of_its_probes_validation_images(tmp_path, data_dir, browser):
    """A run trained by the real pipeline keeps its validation predictions in its probe file; the matrix its page
    draws, reached by clicking, is the one its weights give on those images, recomputed here with scikit-learn."""
    store = open_store(tmp_path / "runs.db")
    config = resolve_config({**QUICK_VALUES, "train_size": 600, "epochs": 3})
    ctx = JobContext(sweep="one", runs_dir=str(tmp_path / "runs"), data_dir=str(data_dir), wandb_mode="disabled")
    summary = run_pipeline(FixedProposer("one", store, [config]), store, InProcessWorkers(), ctx, progress=False)
    run = store.get(summary.run_ids[0])
    data_ = load_uint8("mnist", str(data_dir))
    _, X_val, _, y_val = validation_split(data_.X_train, data_.y_train, config["val_fraction"], config["seed"],
                                          config["train_size"])
    model = NeuralNetwork(config)
    model.set_weights(load_weights(run["weights_path"]))
    X_probe, y_probe = to_unit_float(X_val[:N_PROBE_IMAGES], config["dtype"]), y_val[:N_PROBE_IMAGES]
    expected = confusion_matrix(y_probe, model.predict(X_probe), labels=range(10))
    store.close()
    ui = UI(tmp_path / "runs.db")
    page = browser.page
    try:
        page.goto(ui.home)
        page.click("#sweeps >> text=one")
        page.click(f'#best-runs tr[data-run="{run["id"]}"] >> text="{run["id"]}"')
        page.wait_for_selector("#run-confusion svg")
        page.wait_for_selector("#run-gradients svg")
        shown = np.zeros((10, 10), dtype=int)
        for label in browser.labels("run-confusion"):
            cell = fields(label)
            if "count" in cell and "true" in cell:
                shown[int(cell["true"]), int(cell["predicted"])] = int(cell["count"])
        assert (shown == expected).all()
        assert f"On the {len(y_probe)} validation images" in page.inner_text("#run-confusion-note")
        browser.shot("run")
        assert browser.errors == [] and browser.hosts == {f"127.0.0.1:{ui.port}"}
    finally:
        log = ui.stop()
    assert "Traceback" not in log
