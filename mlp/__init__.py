"""A NumPy-only multilayer perceptron for MNIST and Fashion-MNIST (the course skeleton's ``src/ann``)."""
from .neural_network import NeuralNetwork

__all__ = ["NeuralNetwork"]
