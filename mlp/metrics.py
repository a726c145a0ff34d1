"""Evaluation of a model on a labelled split (scikit-learn does the counting)."""
import numpy as np

from .objective_functions import labels_of


def evaluate(model, X, y, batch_size=10000):
    """-> dict with logits, loss, accuracy and macro precision, recall and F1; ``y`` integer or one-hot."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support  # noqa: PLC0415 - 2 s to import

    y = labels_of(y)
    logits = np.concatenate([model.forward(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])
    predicted = logits.argmax(axis=1)
    precision, recall, f1, _ = precision_recall_fscore_support(y, predicted, average="macro", zero_division=0)
    return {
        "logits": logits,
        "loss": float(model.compute_loss(y, logits)),
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }
