"""The course skeleton's ``ann`` package: a door into the project's ``mlp/``, not a copy of it.

Each ``ann.<module>`` *is* the module ``mlp.<module>`` (the same object), so a grader written
for the skeleton imports, checks and trains exactly the network the project tests. The project's
root goes on ``sys.path`` after the script's own folder, so nothing of ``src/`` is shadowed.
"""
import importlib
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(1, ROOT)

from mlp import NeuralNetwork  # noqa: E402 - needs the root on the path

__all__ = ["NeuralNetwork"]


def become(name):
    """Make the module called ``name`` (``ann.activations``, or ``src.ann.activations``) be ``mlp.<its last part>``."""
    sys.modules[name] = importlib.import_module(f"mlp.{name.rpartition('.')[2]}")
