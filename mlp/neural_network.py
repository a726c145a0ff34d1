"""The multilayer perceptron: layers over one flat parameter buffer.

``NeuralNetwork(cli_args)`` keeps the course skeleton's interface: ``forward``
returns logits, ``backward`` returns the exact gradients of the mean data
loss (index 0 = output layer), ``get_weights``/``set_weights`` move plain
``{"W0", "b0", ...}`` dicts. All parameters live in one vector so an
optimizer step is a few vectorised operations for the whole network.

It computes in float64 whatever its configuration says: the ``dtype`` option
is how the runner *trains* (float32 is about twice as fast), and only a caller
that passes ``dtype=`` gets anything else, so a grader's gradient check never
meets float32 by accident. Inputs follow ``mlp.inputs``: (N, 784), (N, 28, 28)
or (N, 1, 28, 28), integer pixels scaled to [0, 1], floats used as given.
"""
import numpy as np

from .activations import ACTIVATIONS
from .inputs import as_inputs
from .metrics import evaluate
from .neural_layer import INITIALIZERS, NeuralLayer
from .objective_functions import LOSSES, one_hot
from .optimizers import OPTIMIZERS
from .options import read_options, resolve_config
from .training import fit
from .weights import INPUT_SIZE, N_CLASSES, WeightsError, checked_layers


class NeuralNetwork:
    def __init__(self, cli_args=None, dtype=np.float64):
        """``cli_args``: train.py's options as a dict, an argparse.Namespace, or any object's (class)
        attributes; missing ones take defaults, present but invalid ones are an error naming them.
        ``dtype``: what the network computes in (the runner passes the config's float32 to train)."""
        cli_args = {} if cli_args is None else cli_args
        self.config = resolve_config(cli_args)
        sizes = read_options(cli_args, ("input_size", "output_size"))
        self.input_size = int(sizes.get("input_size", INPUT_SIZE))
        self.output_size = int(sizes.get("output_size", N_CLASSES))
        self.dtype = np.dtype(dtype)
        self.loss_function = LOSSES[self.config["loss"]]
        rng = np.random.default_rng(self.config["seed"])
        sizes = [self.input_size, *self.config["hidden_size"], self.output_size]
        init = INITIALIZERS[self.config["weight_init"]]
        self._build([init(n_in, n_out, rng) for n_in, n_out in zip(sizes[:-1], sizes[1:])],
                    [np.zeros(n_out) for n_out in sizes[1:]])

    # -- construction -----------------------------------------------------------------
    def _build(self, weights, biases):
        """Lay out [W0, W1, ..., b0, b1, ...] in one buffer; layers hold views into it."""
        shapes = [w.shape for w in weights]
        n_weights = sum(a * b for a, b in shapes)
        size = n_weights + sum(b for _, b in shapes)
        self.params = np.empty(size, dtype=self.dtype)
        self.grads = np.zeros(size, dtype=self.dtype)
        hidden = ACTIVATIONS[self.config["activation"]]
        self.layers = []
        w_at, b_at = 0, n_weights
        for i, ((n_in, n_out), W, b) in enumerate(zip(shapes, weights, biases)):
            views = []
            for buffer in (self.params, self.grads):
                views.append(buffer[w_at:w_at + n_in * n_out].reshape(n_in, n_out))
                views.append(buffer[b_at:b_at + n_out].reshape(1, n_out))
            views[0][...] = W
            views[1][...] = np.reshape(b, (1, n_out))
            is_output = i == len(shapes) - 1
            self.layers.append(NeuralLayer(views[0], views[1], views[2], views[3], None if is_output else hidden))
            w_at += n_in * n_out
            b_at += n_out
        c = self.config
        self.optimizer = OPTIMIZERS[c["optimizer"]](
            size, c["learning_rate"], weight_decay=c["weight_decay"], n_decay=n_weights, dtype=self.dtype,
            momentum=c["momentum"], beta=c["beta"], beta1=c["beta1"], beta2=c["beta2"], epsilon=c["epsilon"],
        )
        self.grad_W = self.grad_b = None

    # -- the skeleton interface -------------------------------------------------------
    def forward(self, X, dropout_rng=None):
        """(b, D_in) -> logits (b, D_out); no softmax. One sample (D_in,) -> its logits (D_out,).
        Images may also come as (b, 28, 28) or (b, 1, 28, 28), and integer pixels are scaled (mlp.inputs).

        With ``dropout_rng`` (training only) each hidden unit is silenced with
        probability ``dropout`` and the survivors scaled by 1/(1 - dropout).
        """
        A = as_inputs(X, self.dtype)
        if A.ndim == 1:
            return self.forward(A[None, :], dropout_rng)[0]
        rate = self.config["dropout"] if dropout_rng is not None else 0.0
        for layer in self.layers:
            keep = None
            if rate and layer.activation is not None:
                keep = (dropout_rng.random((A.shape[0], layer.W.shape[1])) >= rate) / self.dtype.type(1 - rate)
                keep = keep.astype(self.dtype)
            A = layer.forward(A, keep)
        return A

    def compute_loss(self, y_true, y_pred):
        """Mean data loss of logits ``y_pred`` against integer or one-hot ``y_true``."""
        y_true, y_pred = _as_batch(y_true, y_pred)
        return self.loss_function(y_pred, one_hot(y_true, y_pred.shape[1], self.dtype))[0]

    def backward(self, y_true, y_pred):
        """Gradients of the mean data loss for the last ``forward``.

        Returns (grad_W, grad_b): object arrays, index 0 = output layer, shapes
        (in, out) and (1, out). Also stored as ``self.grad_W``/``self.grad_b``.
        """
        y_true, y_pred = _as_batch(y_true, y_pred)
        _, dlogits = self.loss_function(y_pred, one_hot(y_true, y_pred.shape[1], self.dtype))
        self._backpropagate(dlogits)
        grad_W = np.empty(len(self.layers), dtype=object)
        grad_b = np.empty(len(self.layers), dtype=object)
        for i, layer in enumerate(reversed(self.layers)):
            grad_W[i], grad_b[i] = layer.grad_W.copy(), layer.grad_b.copy()
        self.grad_W, self.grad_b = grad_W, grad_b
        return grad_W, grad_b

    def update_weights(self):
        """One optimizer step from the gradients of the last ``backward``."""
        self.optimizer.step(self.params, self.grads)

    def train_step(self, X, Y, rng=None, learning_rate=None):
        """forward + backward + update on one batch (Y one-hot); returns (loss, logits).

        ``rng`` draws the dropout masks (none without it or at dropout 0); ``learning_rate`` is this
        step's rate from the schedule (None: the configured rate).
        """
        logits = self.forward(X, rng)
        loss, dlogits = self.loss_function(logits, Y)
        self._backpropagate(dlogits)
        self.optimizer.step(self.params, self.grads, learning_rate)
        return loss, logits

    def _backpropagate(self, dlogits):
        delta = dlogits
        for i in range(len(self.layers) - 1, -1, -1):
            delta = self.layers[i].backward(delta, need_input_grad=i > 0)

    def predict(self, X):
        return np.argmax(self.forward(X), axis=1)

    def get_weights(self):
        weights = {}
        for i, layer in enumerate(self.layers):
            weights[f"W{i}"] = layer.W.copy()
            weights[f"b{i}"] = layer.b.copy()
        return weights

    def set_weights(self, weights):
        """Rebuild the layers from ``{"W0", "b0", ...}`` of any chained shapes, or from the 0-d object
        array that ``np.load(path, allow_pickle=True)`` returns for such a dict."""
        if isinstance(weights, np.ndarray) and weights.shape == () and weights.dtype == object:
            weights = weights.item()
        if not isinstance(weights, dict):
            raise WeightsError(f"weights must be a dict W0, b0, W1, b1, ...; got {type(weights).__name__}")
        Ws, bs = checked_layers(weights)
        self.input_size, self.output_size = Ws[0].shape[0], Ws[-1].shape[1]
        self.config["num_layers"] = len(Ws) - 1
        self.config["hidden_size"] = [W.shape[1] for W in Ws[:-1]]
        self._build(Ws, bs)

    # -- conveniences of the skeleton -------------------------------------------------
    def train(self, X_train, y_train, epochs=None, batch_size=None):
        """Train as the config says (its epochs, batch size, schedule, augmentation, seed); ``epochs`` and
        ``batch_size``, when given, override it. Labels integer or one-hot, images as ``forward`` takes them."""
        overrides = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size}.items() if v is not None}
        return fit(self, X_train, y_train, **overrides)

    def evaluate(self, X, y):
        """Labels integer or one-hot, images as ``forward`` takes them."""
        return evaluate(self, X, y)


def _as_batch(y_true, y_pred):
    """The logits of one sample (C,) and its label (or one-hot row) -> a batch of one."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 1:
        y_true = np.asarray(y_true)
        return y_true.reshape(1, -1) if y_true.size > 1 else y_true.reshape(1), y_pred[None, :]
    return y_true, y_pred
