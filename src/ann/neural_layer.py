"""The skeleton's ``ann.neural_layer``: the module ``mlp.neural_layer`` itself (see ann/__init__.py)."""
from . import become

become(__name__)
