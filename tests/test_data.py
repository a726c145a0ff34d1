"""The real MNIST and Fashion-MNIST files: shapes, ranges, the validation split, no test leak, clear errors."""
import os
import shutil

import numpy as np
import pytest

import mlp.data
from mlp.data import DataError, load_dataset, validation_split

# Class counts of the real files (../shared/data/SOURCES.md).
TRAIN_COUNTS = {"mnist": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], "fashion_mnist": [6000] * 10}
TEST_COUNTS = {"mnist": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009], "fashion_mnist": [1000] * 10}
MEAN_PIXEL = {"mnist": (33.32, 33.79), "fashion_mnist": (72.94, 73.15)}  # train, test, on the 0..255 scale
IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="module", params=("mnist", "fashion_mnist"))
def dataset(request, data_dir):
    return request.param, load_dataset(request.param)


def test_shapes_dtypes_ranges_and_labels(dataset):
    name, data = dataset
    assert data.X_train.shape == (60000, 784)
    assert data.X_test.shape == (10000, 784)
    assert data.y_train.shape == (60000,) and data.y_test.shape == (10000,)
    assert data.X_train.dtype == np.float64 and data.X_test.dtype == np.float64
    assert np.issubdtype(data.y_train.dtype, np.integer) and np.issubdtype(data.y_test.dtype, np.integer)
    for X in (data.X_train, data.X_test):
        assert X.min() == 0.0 and X.max() == 1.0
        # every value is k/255: the pixels were scaled, not normalised otherwise
        np.testing.assert_allclose(X[:500] * 255, np.round(X[:500] * 255), atol=1e-9)
    assert set(np.unique(data.y_train)) == set(range(10)) == set(np.unique(data.y_test))
    assert np.bincount(data.y_train).tolist() == TRAIN_COUNTS[name]
    assert np.bincount(data.y_test).tolist() == TEST_COUNTS[name]
    assert data.X_train.mean() * 255 == pytest.approx(MEAN_PIXEL[name][0], abs=0.01)
    assert data.X_test.mean() * 255 == pytest.approx(MEAN_PIXEL[name][1], abs=0.01)


def test_float32_loading(data_dir):
    data = load_dataset("mnist", dtype=np.float32)
    assert data.X_train.dtype == np.float32 and data.X_test.dtype == np.float32
    assert data.X_train.shape == (60000, 784) and data.X_train.max() == 1.0


def test_explicit_data_dir_reads_the_same_files(data_dir, mnist):
    data = load_dataset("mnist", data_dir=str(data_dir))
    np.testing.assert_array_equal(data.X_test, mnist.X_test)
    np.testing.assert_array_equal(data.y_train, mnist.y_train)


# -- the validation split ----------------------------------------------------------------------------
def test_validation_split_is_stratified_and_seeded(mnist):
    X, y = mnist.X_train, mnist.y_train
    idx = np.arange(len(y))
    tr, val, y_tr, y_val = validation_split(idx, y, 0.1, 0)
    assert len(tr) == 54000 and len(val) == 6000
    # a partition of the training set
    assert len(np.intersect1d(tr, val)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, val])), idx)
    np.testing.assert_array_equal(y_tr, y[tr])
    np.testing.assert_array_equal(y_val, y[val])
    # stratified: each class gives 10% of its images to validation, to within one image (rounding)
    per_class = np.bincount(y, minlength=10)
    assert np.max(np.abs(np.bincount(y_val, minlength=10) - 0.1 * per_class)) <= 1
    assert np.max(np.abs(np.bincount(y_tr, minlength=10) - 0.9 * per_class)) <= 1
    # seeded: same seed -> same split; another seed -> another split
    tr_again, val_again, _, _ = validation_split(idx, y, 0.1, 0)
    np.testing.assert_array_equal(val_again, val)
    np.testing.assert_array_equal(tr_again, tr)
    _, val_other, _, _ = validation_split(idx, y, 0.1, 1)
    assert not np.array_equal(np.sort(val_other), np.sort(val))
    # the split of the images is the same split
    X_tr, X_val, _, _ = validation_split(X, y, 0.1, 0)
    np.testing.assert_array_equal(X_val, X[val])
    np.testing.assert_array_equal(X_tr[:100], X[tr[:100]])


@pytest.mark.parametrize("fraction", (0.05, 0.2))
def test_validation_fraction_is_respected(mnist, fraction):
    _, val, _, y_val = validation_split(np.arange(60000), mnist.y_train, fraction, 3)
    assert len(val) == round(60000 * fraction)
    overall = np.bincount(mnist.y_train) / 60000
    assert np.max(np.abs(np.bincount(y_val, minlength=10) / len(y_val) - overall)) < 0.01


# -- no test image in the training data ----------------------------------------------------------------
def rows_in(rows, reference):
    """Indices of the rows of ``rows`` whose exact bytes occur among the rows of ``reference``."""
    seen = {r.tobytes() for r in reference}
    return [i for i, r in enumerate(rows) if r.tobytes() in seen]


def test_a_train_size_of_the_whole_training_part_keeps_it_and_one_image_is_refused(mnist):
    X, y = mnist.X_train[:1000], mnist.y_train[:1000]
    whole = validation_split(X, y, 0.1, 0)
    same = validation_split(X, y, 0.1, 0, train_size=900)
    for a, b in zip(whole, same):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="number of classes"):  # one image cannot stand for ten classes
        validation_split(X, y, 0.1, 0, train_size=1)


def test_leak_detector_finds_a_planted_test_image(mnist):
    planted = np.vstack([mnist.X_train[:50], mnist.X_test[[123]], mnist.X_train[50:100]])
    assert rows_in(mnist.X_test[[7, 123, 999]], planted) == [1]


@pytest.mark.parametrize("name", ("mnist", "fashion_mnist"))
def test_no_test_image_in_the_training_or_validation_data(name, tmp_path, monkeypatch, data_dir):
    """What runner.job hands to the training loop (validation_split of load_dataset().X_train) holds no
    test image, byte for byte. The arrays are captured from a real run_one call."""
    import runner.job
    from mlp.options import resolve_config

    captured = {}

    class Captured(Exception):
        pass

    def capture_fit(model, X, y, X_val=None, y_val=None, **kwargs):
        captured.update(X=X, y=y, X_val=X_val, y_val=y_val)
        raise Captured("stop after capturing the training data")

    monkeypatch.setattr(runner.job, "fit", capture_fit)
    config = resolve_config({"dataset": name, "epochs": 1})
    ctx = runner.job.JobContext(runs_dir=str(tmp_path / "runs"), wandb_mode="disabled")
    result = runner.job.run_one(config, ctx)
    assert result.record.status == "failed" and "Captured" in result.record.error
    X_tr, X_val = captured["X"], captured["X_val"]
    assert X_tr.shape[1] == 784 and X_val.shape[1] == 784
    assert len(X_tr) + len(X_val) == 60000
    data = load_dataset(name)
    # the job's arrays are exactly validation_split(load_dataset().X_train ...)
    ref_tr, ref_val, _, _ = validation_split(data.X_train, data.y_train, config["val_fraction"], config["seed"])
    np.testing.assert_array_equal(X_val, ref_val)
    np.testing.assert_array_equal(X_tr, ref_tr)
    assert rows_in(data.X_test, X_tr) == []
    assert rows_in(data.X_test, X_val) == []
    assert not (tmp_path / "runs").exists()


# -- clear errors --------------------------------------------------------------------------------------------
def test_missing_data_folder_names_mlp_data_dir(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="MLP_DATA_DIR"):
        load_dataset("mnist", data_dir=str(tmp_path / "nowhere"))
    monkeypatch.setenv("MLP_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="MLP_DATA_DIR") as info:
        load_dataset("fashion_mnist")
    assert "\n" not in str(info.value)


def test_folder_missing_a_file_names_it(tmp_path, data_dir):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in IDX_NAMES[:3]:
        os.symlink(data_dir / "mnist" / name, folder / name)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist", data_dir=str(tmp_path))


def test_corrupt_file_gives_data_error(tmp_path, data_dir):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in IDX_NAMES[1:]:
        shutil.copyfile(data_dir / "mnist" / name, folder / name)
    (folder / IDX_NAMES[0]).write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        load_dataset("mnist", data_dir=str(tmp_path))


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="mnist"):
        load_dataset("cifar10")


def test_keras_download_cache_is_read_without_keras(tmp_path, monkeypatch, data_dir, mnist):
    """keras's own cache layout (mnist.npz, fashion-mnist/*.gz), built from the real files, is read with NumPy."""
    from mlp.data_sources import read_idx

    cache = tmp_path / "home" / ".keras" / "datasets"
    (cache / "fashion-mnist").mkdir(parents=True)
    for name in IDX_NAMES:
        (cache / "fashion-mnist" / name).symlink_to(data_dir / "fashion_mnist" / name)
    raw = [read_idx(data_dir / "mnist" / n) for n in IDX_NAMES]
    np.savez(cache / "mnist.npz", x_train=raw[0].reshape(-1, 28, 28), y_train=raw[1],
             x_test=raw[2].reshape(-1, 28, 28), y_test=raw[3])
    monkeypatch.delenv("MLP_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("MLP_DATA_URL", "http://127.0.0.1:1")  # a download would fail: the cache must serve
    mlp.data._load_uint8.cache_clear()
    try:
        from_cache = load_dataset("mnist")
        assert np.array_equal(from_cache.X_train, mnist.X_train) and np.array_equal(from_cache.y_test, mnist.y_test)
        fashion = load_dataset("fashion_mnist")
        assert fashion.X_train.shape == (60000, 784) and np.bincount(fashion.y_test).tolist() == [1000] * 10
    finally:
        mlp.data._load_uint8.cache_clear()
    assert not (tmp_path / "empty-cache").exists()


# -- python -m mlp.data fetch --------------------------------------------------------------------------------
def test_fetch_names_where_each_dataset_is(data_dir, capsys):
    assert mlp.data.main(["fetch", "--data_dir", str(data_dir)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"mnist: {data_dir / 'mnist'}",
                                                    f"fashion_mnist: {data_dir / 'fashion_mnist'}"]
    assert mlp.data.main(["fetch", "-d", "fashion_mnist"]) == 0  # the folder from MLP_DATA_DIR
    assert capsys.readouterr().out == f"fashion_mnist: {data_dir / 'fashion_mnist'}\n"


@pytest.mark.parametrize("argv", (["download"], ["fetch", "-d", "cifar10"]))
def test_fetch_refuses_an_unknown_command_or_dataset(argv, capsys):
    with pytest.raises(SystemExit) as ended:
        mlp.data.main(argv)
    assert ended.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_check_available_reads_the_data_or_raises_data_error(data_dir, tmp_path):
    mlp.data.check_available("fashion_mnist", str(data_dir))
    with pytest.raises(DataError, match="nowhere"):
        mlp.data.check_available("fashion_mnist", str(tmp_path / "nowhere"))
    (tmp_path / "only_mnist").mkdir()
    shutil.copytree(data_dir / "mnist", tmp_path / "only_mnist" / "mnist")
    mlp.data.check_available("mnist", str(tmp_path / "only_mnist"))
    with pytest.raises(DataError, match="fashion_mnist"):
        mlp.data.check_available("fashion_mnist", str(tmp_path / "only_mnist"))


def test_fetch_from_a_missing_folder_ends_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as ended:
        mlp.data.main(["fetch", "--data_dir", str(tmp_path / "nowhere")])
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere" in err and err.startswith("python -m mlp.data: ")
