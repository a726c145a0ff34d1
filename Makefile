# The front door: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The data: MLP_DATA_DIR when set; else ../shared/data when a checkout has it beside (our workspace and CI);
# else the per-user cache, filled by the first command that needs it (or by `make data`).
ifneq ($(wildcard ../shared/data/mnist),)
export MLP_DATA_DIR ?= $(abspath ../shared/data)
endif
export WANDB_SILENT := true

.PHONY: help install data test mutate train sweep search runs ui screenshots bench-search bench-scale report wandb-report publish best bench stress fresh-check browser report-check

help:  ## list the targets
	@grep -E '^[a-z0-9.%-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

install:  ## make .venv and install the project with its test dependencies
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ui]'
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
		echo "make install: could not install Debian's chromium (it needs root and apt): the browser test will skip"

data:  ## download MNIST and Fashion-MNIST into the per-user cache now (checked against their MD5s)
	$(PY) -m mlp.data fetch

# The tests, a file per worker process (TEST_JOBS of them): the files share no paths, and each trains on small slices.
TEST_JOBS ?= 2
test:  ## run the test suite (about 6 minutes on 2 cores)
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile

# mutmut copies the code into mutants/ and runs the tests there; PYTHONPATH makes the scripts and runners the tests
# start as subprocesses import that copy too, so they run the mutant under test (mutmut passes its name in the
# environment). MUTATE_JOBS children at a time, one per core unless set.
MUTANTS ?=
MUTATE_JOBS ?= $(shell nproc)
mutate:  ## mutation testing (mutmut) of mlp/, store/ and the runner's bookkeeping, or MUTANTS='store.* mlp.metrics.*'; not in make test
	$(PY) -m pip install --quiet -e '.[mutate]'
	mkdir -p mutants  # on PYTHONPATH from the start: a folder missing then is never looked at again
	PYTHONPATH=$(CURDIR)/mutants $(VENV)/bin/mutmut run --max-children $(MUTATE_JOBS) $(foreach m,$(MUTANTS),'$(m)')
	$(PY) tests/mutation_score.py

train:  ## train the reference model: 3x128 ReLU, Adam, 10 epochs on MNIST
	$(PY) train.py -d mnist -e 10 -b 64 -o adam -lr 1e-3 -nhl 3 -sz 128 -a relu -w_i xavier

SWEEP ?= sweeps/search.yaml
JOBS ?= 2
sweep:  ## run a sweep file in parallel, resumably: make sweep SWEEP=sweeps/x.yaml JOBS=2
	$(PY) -m runner $(SWEEP) --jobs $(JOBS)

search:  ## the 120-run search of report 2.2 over the training recipe, which finds best_model.npy (about 25 minutes on 2 cores)
	$(PY) -m runner sweeps/search.yaml --jobs $(JOBS)

runs:  ## the 20 best runs in the store by validation accuracy
	$(PY) -m store list --status finished --sort val_acc --limit 20

DB ?=
PORT ?= 8001
ui:  ## the dashboard at http://127.0.0.1:PORT: sweeps, curves, parallel coordinates, importance, compare; DB=docs/report/runs.db
	$(PY) -m store $(if $(DB),--db $(DB)) serve --port $(PORT)

screenshots:  ## the dashboard's pages as the browser tests see them, into docs/ (docs/store.md shows them)
	DASHBOARD_SCREENSHOTS=docs $(PY) -m pytest -p no:cacheprovider tests/test_dashboard.py -k "home_page or each_epoch or confusion"

REPORT_FLAGS ?=
BENCH_FLAGS ?=
report:  ## every analysis 2.1-2.10 into report/index.html, training only what the store lacks (REPORT_FLAGS=--no-train)
	$(PY) -m reports all --jobs $(JOBS) $(REPORT_FLAGS)

report-%:  ## one analysis section of the report: make report-2.3
	$(PY) -m reports $* --jobs $(JOBS) $(REPORT_FLAGS)

wandb-report:  ## the W&B report built by code from report/ and the store it was built from (saved online after `wandb login`, else report/wandb_report.json)
	$(PY) -m reports.wandb_report

publish:  ## rebuild the report from the store (training what it lacks) and copy it with runs.db and its probes into docs/report/; `make best` first
	$(PY) -m reports all --jobs $(JOBS) $(REPORT_FLAGS)
	$(PY) -m reports.wandb_report --wandb_mode offline
	$(PY) -m reports.publish

best:  ## export the run with the highest test F1 to best_model.npy and best_config.json
	$(PY) -m reports.export

bench:  ## one step against its matmuls; epochs and 3-epoch processes against scikit-learn; sweep throughput; cooperating runners
	$(PY) bench/bench_step.py
	$(PY) bench/bench_epoch.py
	$(PY) bench/bench_process.py
	$(PY) bench/bench_sweep.py
	$(PY) bench/bench_coop.py

bench-search:  ## the search against Optuna's TPE + Hyperband at equal epochs, 3 seeds on 20,000 training images (about an hour; BENCH_FLAGS=--quick for minutes)
	$(PY) -m pip install --quiet -e '.[bench]'
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) bench/bench_search.py $(BENCH_FLAGS)

bench-scale:  ## sweeps of 1,000 to 100,000 runs: the store's reads, a bayes batch, the runner appended to a large sweep, one runner over dask (stores built once in /tmp/scale-stores)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/bench_scale.py --stores /tmp/scale-stores $(BENCH_FLAGS)

stress:  ## SIGKILL runners and workers 20 times in each of 3 scenarios (local, cooperating runners, dask), SIGTERM a runner 20 times; check nothing is lost or doubled
	$(PY) tests/stress.py --kills 20

fresh-check:  ## clone main with no ../shared and an empty HOME, data from a local mirror; README set-up, train, inference
	tests/fresh_check.sh

browser:  ## install Debian's Chromium for report-check (needs root and apt)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

report-check: browser  ## open report/index.html in headless Chromium: screenshot, and every figure must load
	$(PY) tests/check_report.py
