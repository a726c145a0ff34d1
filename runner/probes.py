"""What the reports need from inside training, recorded cheaply to one .npz per run.

- ``grad_norms``: (steps, hidden layers) L2 norm of each hidden layer's weight gradient,
  every step (reports 2.4 and 2.5)
- ``neuron_grads``: (50, 5) gradient norms of 5 neurons of the first hidden layer's
  incoming weights over the first 50 steps (report 2.9)
- ``act_hist``/``act_edges``/``dead``/``widths``: per hidden layer, a histogram of
  activations on validation images and the count of dead neurons (report 2.5)
- ``val_labels``/``val_predicted``: those validation images' labels and the final model's
  classes for them (the dashboard's confusion matrix of a run)
"""
import numpy as np

from mlp.activations import ACTIVATIONS

N_TRACKED_STEPS = 50
N_TRACKED_NEURONS = 5
HIST_BINS = 60


class Probe:
    def __init__(self):
        self.grad_norms = []
        self.neuron_grads = []

    def on_step(self, step, model):
        hidden = model.layers[:-1]
        self.grad_norms.append([float(np.linalg.norm(layer.grad_W)) for layer in hidden])
        if step <= N_TRACKED_STEPS:
            self.neuron_grads.append(np.linalg.norm(hidden[0].grad_W[:, :N_TRACKED_NEURONS], axis=0))

    def arrays(self, model, X_sample, y_sample):
        """The probe arrays plus activation statistics and predictions of ``model`` on the validation images
        ``X_sample`` labelled ``y_sample`` (saved with np.savez_compressed)."""
        predicted = model.forward(X_sample).argmax(axis=1)
        hidden = [layer.A for layer in model.layers[:-1]]
        low = min(float(a.min()) for a in hidden)
        high = max(float(a.max()) for a in hidden)
        edges = np.linspace(low, high if high > low else low + 1, HIST_BINS + 1)
        hist = np.stack([np.histogram(a, bins=edges)[0] for a in hidden])
        inactive = ACTIVATIONS[model.config["activation"]].dead_when
        dead = np.array([int(np.count_nonzero(np.all(inactive(a), axis=0))) for a in hidden])
        widths = np.array([a.shape[1] for a in hidden])
        return {"grad_norms": np.array(self.grad_norms), "neuron_grads": np.array(self.neuron_grads),
                "act_hist": hist, "act_edges": edges, "dead": dead, "widths": widths, "val_labels": y_sample,
                "val_predicted": predicted}
