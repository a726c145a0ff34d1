"""python -m runner SWEEP.yaml: run a sweep (the command is cli/runner.py)."""
import sys

from cli.runner import command

if __name__ == "__main__":
    sys.exit(command())
