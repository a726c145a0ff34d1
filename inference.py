"""Evaluate saved weights on a dataset's test split (the code is in cli/inference.py).

    python inference.py                      # best_model.npy with best_config.json
    python inference.py --model_path runs/train/HASH.npy --config runs/train/HASH.json
"""
import sys

from cli.inference import build_parser, command, evaluate_model, load_model, main, parse_arguments  # noqa: F401 - the skeleton's names

if __name__ == "__main__":
    sys.exit(command())
