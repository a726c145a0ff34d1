# The front door: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The real data beside a checkout of this repository; override with MLP_DATA_DIR=... make ...
export MLP_DATA_DIR ?= $(abspath ../shared/data)
export WANDB_SILENT := true

.PHONY: help install test train bench

help:  ## list the targets
	@grep -E '^[a-z0-9.-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

install:  ## make .venv and install the project with its test dependencies
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'

test:  ## run the test suite (about 5 minutes)
	$(PY) -m pytest

train:  ## train the reference model: 3x128 ReLU, Adam, 10 epochs on MNIST
	$(PY) train.py -d mnist -e 10 -b 64 -o adam -lr 1e-3 -nhl 3 -sz 128 -a relu -w_i xavier

bench:  ## seconds per epoch against scikit-learn's MLPClassifier
	$(PY) bench/bench_epoch.py
