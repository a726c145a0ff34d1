"""Train one MLP, print progress per epoch, record the run in the store and W&B (the code is in cli/train.py).

    python train.py -d mnist -e 10 -b 64 -o adam -lr 1e-3 -nhl 3 -sz 128 -a relu -w_i xavier
"""
import sys

from cli.train import build_parser, command, main, parse_arguments  # noqa: F401 - the skeleton's names, importable here

if __name__ == "__main__":
    sys.exit(command())
