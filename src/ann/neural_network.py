"""The skeleton's ``ann.neural_network``: the module ``mlp.neural_network`` itself (see ann/__init__.py)."""
from . import become

become(__name__)
