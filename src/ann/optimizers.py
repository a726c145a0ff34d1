"""The skeleton's ``ann.optimizers``: the module ``mlp.optimizers`` itself (see ann/__init__.py)."""
from . import become

become(__name__)
