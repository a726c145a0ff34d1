"""The course skeleton's ``src/inference.py``: the project's inference.py (cli/inference.py), from any folder.

    cd src && python inference.py            # ../best_model.npy with ../best_config.json
"""
import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the project's root, after this folder

from cli.inference import build_parser, command, evaluate_model, load_model, main, parse_arguments  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(command())
