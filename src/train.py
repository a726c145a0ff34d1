"""The course skeleton's ``src/train.py``: the project's train.py (cli/train.py), from any working folder.

    cd src && python train.py -d mnist -e 10 -b 64 -o adam -lr 1e-3 -nhl 3 -sz 128 -a relu -w_i xavier
"""
import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the project's root, after this folder

from cli.train import build_parser, command, main, parse_arguments  # noqa: E402,F401 - the skeleton's names

if __name__ == "__main__":
    sys.exit(command())
