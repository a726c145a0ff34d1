"""The skeleton's ``ann.activations``: the module ``mlp.activations`` itself (see ann/__init__.py)."""
from . import become

become(__name__)
