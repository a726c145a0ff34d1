"""What the reports need from inside training, recorded cheaply to one .npz per run.

- ``grad_norm``: L2 norm of the first hidden layer's weight gradient, every step (report 2.4)
- ``neuron_grads``: (50, 5) gradient norms of 5 neurons of the first hidden layer's
  incoming weights over the first 50 steps (report 2.9)
- ``act_hist``/``act_edges``/``dead``/``widths``: per hidden layer, a histogram of
  activations on validation images and the count of neurons never active (report 2.5)
"""
import numpy as np

N_TRACKED_STEPS = 50
N_TRACKED_NEURONS = 5
HIST_BINS = 60


class Probe:
    def __init__(self):
        self.grad_norm = []
        self.neuron_grads = []

    def on_step(self, step, model):
        grad = model.layers[0].grad_W
        self.grad_norm.append(float(np.linalg.norm(grad)))
        if step <= N_TRACKED_STEPS:
            self.neuron_grads.append(np.linalg.norm(grad[:, :N_TRACKED_NEURONS], axis=0))

    def arrays(self, model, X_sample):
        """The probe arrays plus activation statistics of ``model`` on ``X_sample`` (saved with np.savez)."""
        model.forward(X_sample)
        hidden = [layer.A for layer in model.layers[:-1]]
        low = min(float(a.min()) for a in hidden)
        high = max(float(a.max()) for a in hidden)
        edges = np.linspace(low, high if high > low else low + 1, HIST_BINS + 1)
        hist = np.stack([np.histogram(a, bins=edges)[0] for a in hidden])
        dead = np.array([int(np.count_nonzero(np.all(a <= 0, axis=0))) for a in hidden])
        widths = np.array([a.shape[1] for a in hidden])
        return {"grad_norm": np.array(self.grad_norm), "neuron_grads": np.array(self.neuron_grads),
                "act_hist": hist, "act_edges": edges, "dead": dead, "widths": widths}
