"""The skeleton's ``ann.objective_functions``: the module ``mlp.objective_functions`` itself (see ann/__init__.py)."""
from . import become

become(__name__)
