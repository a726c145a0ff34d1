"""A NumPy-only multilayer perceptron for MNIST and Fashion-MNIST (the course skeleton's ``src/ann``).

It imports nothing else of the project, so it can be copied alone into a skeleton checkout as
``src/ann/``. ``NeuralNetwork`` is imported on first use, so that ``mlp.command_line`` (which the
store's command line needs) loads without NumPy.
"""
__all__ = ["NeuralNetwork"]


def __getattr__(name):
    if name == "NeuralNetwork":
        from .neural_network import NeuralNetwork  # noqa: PLC0415 - on first use, see above

        return NeuralNetwork
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
