"""mlp/augment.py: rotations and elastic distortions keep each image's shape and label, and touch only training
batches."""
import numpy as np
import pytest

from mlp.augment import warp_images
from mlp.data import load_dataset, validation_split
from mlp.neural_network import NeuralNetwork
from mlp.options import resolve_config
from mlp.training import fit


def dot_image(row, col, side=28):
    image = np.zeros((side, side), np.float32)
    image[row, col] = 1.0
    return image.reshape(1, -1)


def centroid(flat, side=28):
    image = flat.reshape(side, side)
    rows, cols = np.indices(image.shape)
    return (image * rows).sum() / image.sum(), (image * cols).sum() / image.sum()


def test_no_rotation_and_no_field_leave_every_image_as_it_was():
    X = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    np.testing.assert_array_equal(warp_images(X, np.random.default_rng(1)), X)


@pytest.mark.parametrize("degrees", (10.0, 30.0))
def test_a_rotation_turns_each_image_of_a_batch_about_the_centre_by_at_most_its_angle(degrees):
    """Dots 5.5, 8.5 and 11.5 pixels right of the centre (13.5, 13.5) stay that far from it, each in its own place
    in the batch (an image's label stays with it), turned by no more than ``degrees``; a thousand batches turn
    them both ways and by more than half the angle."""
    rng = np.random.default_rng(2)
    centre, cols = 13.5, (19, 22, 25)
    dots = np.concatenate([dot_image(13, col) for col in cols])  # row 13: half a pixel above the centre
    turned = []
    for _ in range(1000):
        for col, image in zip(cols, warp_images(dots, rng, rotate=degrees)):
            row, new_col = centroid(image)
            assert np.hypot(row - centre, new_col - centre) == pytest.approx(np.hypot(0.5, col - centre), abs=0.3)
            turned.append(np.degrees(np.arctan2(row - centre, new_col - centre) - np.arctan2(-0.5, col - centre)))
    assert max(np.abs(turned)) <= degrees + 3  # bilinear reads blur a dot: its centroid is good to 0.3 px
    assert min(turned) < -degrees / 2 and max(turned) > degrees / 2


def test_an_elastic_field_moves_pixels_by_about_its_size_and_keeps_the_ink(data_dir):
    """Warped digits keep their shape (b, 784), dtype and [0, 1] range and, together, their ink; a dot moves by
    about the field's size on average (a root-mean-square of 1.5 px)."""
    X = load_dataset("mnist", data_dir, np.float32).X_train[:200]
    rng = np.random.default_rng(3)
    warped = warp_images(X, rng, elastic=1.5)
    assert warped.shape == X.shape and warped.dtype == np.float32
    assert warped.min() >= 0 and warped.max() <= 1
    assert warped.sum() == pytest.approx(X.sum(), rel=0.1)  # a field squeezes some strokes and stretches others
    assert not np.allclose(warped, X)
    moves = [np.hypot(*np.subtract(centroid(warp_images(dot_image(14, 14), rng, elastic=1.5)[0]), (14, 14)))
             for _ in range(500)]
    assert 0.5 < np.mean(moves) < 2.5


def test_training_augments_only_its_batches_keeping_their_labels_and_never_the_validation_split(data_dir):
    """With shifts, rotations and elastic fields on, every training batch keeps its shape and its images' labels
    (each epoch steps on each training label once, and no batch is its images unchanged), while validation reads
    the validation images as they are, and the arrays handed in are left untouched."""
    data = load_dataset("mnist", data_dir, np.float32)
    X_tr, X_val, y_tr, y_val = validation_split(data.X_train[:1200], data.y_train[:1200], 0.25, seed=0)
    originals = X_tr.copy(), X_val.copy()
    config = resolve_config({"epochs": 2, "batch_size": 100, "num_layers": 1, "hidden_size": 16, "dtype": "float32",
                             "augment": 2, "rotate": 10, "elastic": 1, "seed": 4})
    model = NeuralNetwork(config)
    stepped, evaluated = [], []
    train_step, evaluate = model.train_step, model.evaluate

    def spy_step(Xb, Yb, rng, learning_rate):
        stepped.append((Xb.copy(), Yb.argmax(axis=1)))
        return train_step(Xb, Yb, rng, learning_rate)

    def spy_evaluate(X, y):
        evaluated.append((X, y))
        return evaluate(X, y)

    model.train_step, model.evaluate = spy_step, spy_evaluate
    fit(model, X_tr, y_tr, X_val, y_val)
    assert len(stepped) == 2 * 9 and all(Xb.shape == (100, 784) for Xb, _ in stepped)
    for epoch in (stepped[:9], stepped[9:]):
        assert sorted(np.concatenate([labels for _, labels in epoch])) == sorted(y_tr)
    for Xb, labels in stepped:
        rows = [np.flatnonzero(y_tr == label) for label in labels]
        assert not any(any(np.array_equal(image, X_tr[i]) for i in candidates) for image, candidates in zip(Xb, rows))
    assert len(evaluated) == 2 and all(X is X_val and y is y_val for X, y in evaluated)
    np.testing.assert_array_equal(X_tr, originals[0])
    np.testing.assert_array_equal(X_val, originals[1])
