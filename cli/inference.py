"""Evaluate saved weights on a dataset's test split.

    python inference.py                      # best_model.npy with best_config.json
    python inference.py --model_path runs/train/HASH.npy --config runs/train/HASH.json

The parser's defaults are the configuration in --config (default best_config.json);
flags given on the command line override it. The root inference.py and the skeleton's
src/inference.py are doors to this module; a grader's own code calls ``parse_arguments``,
``load_model`` and ``evaluate_model``.
"""
import json
import sys
from pathlib import Path

from cli import OneLineParser, one_line_errors, parse_known, run_command
from mlp import NeuralNetwork
from mlp.data import load_dataset
from mlp.metrics import evaluate
from mlp.model_io import load_weights
from mlp.option_flags import add_run_options
from mlp.options import RUN_OPTION_NAMES, ConfigError, resolve_config
from mlp.weights import WeightsError, check_fit

HERE = Path(__file__).resolve().parent.parent  # the project's root, where best_model.npy is


def find(path):
    """A relative path is looked up from the working folder, then beside this script."""
    path = Path(path)
    if path.is_absolute() or path.exists() or not (HERE / path).exists():
        return path
    return HERE / path


def read_config(path, required):
    """The run options stored in a config JSON (other keys are ignored).

    Only the default best_config.json may be absent (then the flags' defaults apply);
    a --config that names a missing file is an error, never a silent fallback.
    """
    try:
        stored = json.loads(Path(path).read_text())
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    if not isinstance(stored, dict):
        raise ConfigError(f"config {path} must hold a JSON object of train.py options")
    return resolve_config({k: v for k, v in stored.items() if k in RUN_OPTION_NAMES})


def build_parser(defaults):
    parser = OneLineParser(prog="inference.py", description=__doc__.splitlines()[0])
    parser.add_argument("-mp", "--model_path", default="best_model.npy", help="weights saved with np.save(get_weights())")
    parser.add_argument("--config", "--config_path", dest="config", default="best_config.json",
                        help="configuration the defaults come from")
    parser.add_argument("--data_dir", default=None, help="folder with mnist/ and fashion_mnist/ (else $MLP_DATA_DIR)")
    return add_run_options(parser, defaults)


def evaluate_model(model, X_test, y_test):
    """-> dict with logits, loss, accuracy, f1, precision, recall (macro)."""
    return evaluate(model, X_test, y_test)


def parse_arguments(argv=None):
    """The course skeleton's name: the flags as a Namespace, their defaults read from --config first."""
    argv = sys.argv[1:] if argv is None else argv
    pre = OneLineParser(add_help=False)
    pre.add_argument("--config", "--config_path", dest="config", default=None)
    given = pre.parse_known_args(argv)[0].config
    defaults = read_config(find(given or "best_config.json"), required=given is not None)
    return parse_known(build_parser(defaults), argv)


def load_model(model_path, config=None):
    """A ready float64 network from a weights file.

    Its configuration: ``config`` (a dict of options, or a JSON file's path) when given, else the
    ``.json`` saved beside the weights, else ``best_config.json``, each only if its widths fit the
    weights; else the defaults, with the widths read from the weights (only an activation cannot be).
    """
    path = find(model_path)
    weights = load_weights(path)
    if config is None:
        config = _fitting_config(weights, [Path(path).with_suffix(".json"), find("best_config.json")])
    else:
        config = resolve_config(config) if isinstance(config, dict) else read_config(find(config), required=True)
        check_fit(weights, config)
    model = NeuralNetwork(config)
    model.set_weights(weights)
    return model


def _fitting_config(weights, paths):
    """The first config among ``paths`` that fits ``weights``, else none (the defaults)."""
    for path in paths:
        config = read_config(path, required=False)  # {} when there is no such file
        if not config:
            continue
        try:
            check_fit(weights, config)
        except WeightsError:  # another network's configuration
            continue
        return config
    return {}


def main(argv=None):
    with one_line_errors("inference.py"):
        args = parse_arguments(argv)
        config = resolve_config(args)
        model = load_model(args.model_path, config)
        data = load_dataset(config["dataset"], args.data_dir, dtype=model.dtype)
    scores = evaluate_model(model, data.X_test, data.y_test)
    print(f"{config['dataset']} test: accuracy {scores['accuracy']:.4f}  precision {scores['precision']:.4f}  "
          f"recall {scores['recall']:.4f}  f1 {scores['f1']:.4f}")
    return scores


def command():
    """The script's entry (the root inference.py and src/inference.py call it too): exit status 0 once the
    scores are printed."""
    return run_command("inference.py", lambda: main() and 0)


if __name__ == "__main__":
    sys.exit(command())
