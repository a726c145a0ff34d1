"""runner/sweep_file.py: sweep files in the W&B schema, checked before anything runs."""
import subprocess
from pathlib import Path

import pytest

from conftest import runner_cmd
from runner.sweep_file import OUR_KEYS, SweepError, expand, load_sweep, validate


ROOT = Path(__file__).resolve().parent.parent
BAD_SWEEPS = {
    "not yaml": "method: [grid\n",
    "not a mapping": "- grid\n",
    "unknown method": "method: sideways\nparameters: {epochs: {value: 1}}\n",
    "no parameters": "method: grid\n",
    "unknown parameter": "method: grid\nparameters: {colour: {value: red}}\n",
    "bad choice": "method: grid\nparameters: {optimizer: {values: [adam, lion]}}\n",
    "zero epochs": "method: grid\nparameters: {epochs: {value: 0}}\n",
    "negative width": "method: grid\nparameters: {hidden_size: {value: -4}}\n",
    "nan learning rate": "method: grid\nparameters: {learning_rate: {value: .nan}}\n",
    "min above max": "method: random\nrun_cap: 3\nparameters: {learning_rate: {min: 0.1, max: 0.01}}\n",
    "random without cap": "method: random\nparameters: {learning_rate: {min: 0.001, max: 0.01}}\n",
    "grid with range": "method: grid\nparameters: {learning_rate: {min: 0.001, max: 0.01}}\n",
    "bad distribution": "method: random\nrun_cap: 2\nparameters: {learning_rate: {min: 0.001, max: 0.01, distribution: zipf}}\n",
    "empty values": "method: grid\nparameters: {epochs: {values: []}}\n",
    "rule without value": "method: grid\nparameters: {epochs: 5}\n",
    "widths vs layers": "method: grid\nparameters: {num_layers: {value: 2}, hidden_size: {value: [3, 4, 5]}}\n",
    "test metric": "method: grid\nmetric: {name: test_acc, goal: maximize}\nparameters: {epochs: {value: 1}}\n",
    "bad early terminate": "method: grid\nearly_terminate: {type: sometimes}\nparameters: {epochs: {value: 1}}\n",
    "bad run cap": "method: grid\nrun_cap: -1\nparameters: {epochs: {value: 1}}\n",
    "a later grid value invalid": "method: grid\nparameters: {num_layers: {values: [3, 2]}, hidden_size: {value: [8, 8, 8]}}\n",
    "random draws a fraction for an integer": "method: random\nrun_cap: 6\nparameters: {epochs: {min: 1, max: 5, distribution: uniform}}\n",
    "unknown key": "method: grid\nparamters: {epochs: {value: 1}}\nparameters: {epochs: {value: 1}}\n",
    "unknown fidelity": "method: grid\nfidelity: sometimes\nparameters: {epochs: {value: 1}}\n",
    "budgets of a fixed list": "method: random\nrun_cap: 2\nfidelity: budgets\nearly_terminate: {type: hyperband}\n"
                               "parameters: {epochs: {values: [1, 3]}}\n",
    "budgets without hyperband": "method: bayes\nrun_cap: 2\nfidelity: budgets\nearly_terminate: {type: median}\n"
                                 "parameters: {epochs: {values: [1, 3]}}\n",
    "one budget": "method: bayes\nrun_cap: 2\nfidelity: budgets\nearly_terminate: {type: hyperband}\n"
                  "parameters: {epochs: {value: 3}}\n",
    "unknown weights policy": "method: grid\nkeep_weights: some\nparameters: {epochs: {value: 1}}\n",
    "keep the best none": "method: grid\nkeep_weights: {best: 0}\nparameters: {epochs: {value: 1}}\n",
}


@pytest.mark.parametrize("case", sorted(BAD_SWEEPS))
def test_a_malformed_sweep_file_gives_one_line_and_exit_2(tmp_path, case):
    sweep_file = tmp_path / "bad.yaml"
    sweep_file.write_text(BAD_SWEEPS[case])
    out = subprocess.run(runner_cmd(sweep_file, tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "runs.db").exists() and not (tmp_path / "runs").exists()


def test_a_missing_sweep_file_gives_one_line_and_exit_2(tmp_path):
    out = subprocess.run(runner_cmd(tmp_path / "nope.yaml", tmp_path), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "does not exist" in out.stderr and len(out.stderr.splitlines()) == 1


def test_every_shipped_sweep_file_is_valid():
    for path in sorted((ROOT / "sweeps").glob("*.yaml")):
        validate(load_sweep(path))
    search = load_sweep(ROOT / "sweeps" / "search.yaml")
    assert search["method"] == "bayes" and search["run_cap"] >= 100 and search.get("early_terminate")
    with pytest.raises(SweepError, match="method bayes proposes its runs as it goes"):
        expand(search)



# W&B's sweep schema (wandb/sweeps, config/schema.json) as it bears on our files: its top-level keys (it refuses
# others), its methods, its hyperband keys, and each parameter's allowed keys by distribution.
WANDB_TOP_LEVEL = {"apiVersion", "kind", "controller", "description", "program", "job", "image_uri", "entity",
                   "project", "method", "command", "name", "run_cap", "metric", "metrics", "scheduler",
                   "early_terminate", "parameters"}
WANDB_METHODS = {"bayes", "random", "grid", "custom"}
WANDB_HYPERBAND = {"type", "max_iter", "min_iter", "s", "eta", "strict"}
WANDB_PARAMETER = {"constant": {"value", "distribution"}, "categorical": {"values", "distribution"},
                   "uniform": {"min", "max", "distribution"}, "int_uniform": {"min", "max", "distribution"},
                   "log_uniform_values": {"min", "max", "distribution"}, "q_uniform": {"min", "max", "q", "distribution"}}


def wandb_schema_violations(spec):
    """What W&B's schema would refuse in a sweep file's ``spec``."""
    found = [f"top-level key {k}" for k in sorted(set(spec) - WANDB_TOP_LEVEL)]
    if spec["method"] not in WANDB_METHODS:
        found.append(f"method {spec['method']}")
    stop = spec.get("early_terminate")
    if stop is not None and (stop.get("type") != "hyperband" or set(stop) - WANDB_HYPERBAND):
        found.append(f"early_terminate {stop}")
    for name, rule in spec["parameters"].items():
        kind = rule.get("distribution", "constant" if "value" in rule else "categorical" if "values" in rule
                        else "uniform")
        if set(rule) - WANDB_PARAMETER.get(kind, set()):
            found.append(f"parameter {name} {rule}")
    return found


def test_the_search_file_is_in_w_and_bs_schema_and_our_extensions_are_named():
    """sweeps/search.yaml, with the new default method, still works with `wandb sweep`; the keys W&B refuses are
    exactly the ones sweep_file calls ours, and the W&B backend leaves them out."""
    search = load_sweep(ROOT / "sweeps" / "search.yaml")
    assert search["method"] == "bayes" and wandb_schema_violations(search) == ["top-level key fidelity"]
    extended = {**search, "warm_start": True, "keep_weights": {"best": 5}}
    validate(extended)
    assert wandb_schema_violations(extended) == ["top-level key fidelity", "top-level key keep_weights",
                                                 "top-level key warm_start"]
    assert OUR_KEYS == {"warm_start", "fidelity", "keep_weights"}
