"""The reference for bench_process.py: train.py's 3-epoch run done by scikit-learn's MLPClassifier.

Same data files, the same stratified 10% validation split, 784-128-128-128-10 ReLU,
Adam (lr 1e-3), batch 64, float64, then accuracy, precision, recall and F1 of the
train, validation and test splits, as train.py ends. Run as a whole process
(start-up and data loading included).
"""
import argparse
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from mlp.data import load_dataset


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-e", "--epochs", type=int, default=3)
    args = parser.parse_args()
    data = load_dataset("mnist")  # the same files and reader as train.py
    X_train, X_val, y_train, y_val = train_test_split(data.X_train, data.y_train, test_size=0.1,
                                                      stratify=data.y_train, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(128, 128, 128), activation="relu", solver="adam", alpha=0.0,
                        batch_size=64, learning_rate_init=1e-3, max_iter=args.epochs, shuffle=True, tol=0.0,
                        n_iter_no_change=args.epochs + 1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    for split, (Xs, ys) in {"train": (X_train, y_train), "val": (X_val, y_val), "test": (data.X_test, data.y_test)}.items():
        predicted = clf.predict(Xs)
        precision, recall, f1, _ = precision_recall_fscore_support(ys, predicted, average="macro", zero_division=0)
        print(f"{split} accuracy {accuracy_score(ys, predicted):.4f}  precision {precision:.4f}  "
              f"recall {recall:.4f}  f1 {f1:.4f}")


if __name__ == "__main__":
    main()
