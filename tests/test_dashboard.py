"""The dashboard (`make ui`) in a real browser: Debian's Chromium driven by Playwright, reached by clicking from the
home page as a person would, with every request checked to stay on this machine.

Screenshots of each page are saved in the test's folder, and also in $DASHBOARD_SCREENSHOTS when it is set
(`make screenshots` sets it to docs/images, for docs/store.md)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import QUICK_VALUES, REPO, UI, as_record, runner_cmd, write_sweep
from dashboard import data
from mlp.options import resolve_config
from reports.queries import hyperparameter_importance
from runner.pipeline import open_store

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
        browser.shot("run")
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
    page = data.sweep_page(store, "big")
    curves, parallel = page["curves"], page["parallel"]
    assert (curves["shown"], curves["total"], curves["best"]) == (3, 10, 10)
    assert sorted({p["run_id"] for p in curves["lines"]}) == [8, 9, 10], "the three best by validation accuracy"
    assert [(b["epoch"], b["runs"]) for b in curves["band"]] == [(1, 10), (2, 10)], "the band holds every run"
    assert (parallel["shown"], parallel["total"], parallel["names"]) == (4, 10, ["learning_rate"])
    assert [r["run_id"] for r in parallel["rows"]] == [10, 7, 4, 1], "spread down the ranking, best first"
    assert parallel["chosen"] == "one in 3 down the ranking by validation accuracy"
    assert page["best_runs"]["total"] == 10 and [r["id"] for r in page["best_runs"]["runs"]][:2] == [10, 9]
