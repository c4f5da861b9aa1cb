import numpy as np
import pytest
import torch

from hqvit.ir.errors import InputError
from hqvit.runtime.data import load_dataset, read_idx, resize, split
from tests.idx_files import write_idx, write_mnist_dir


def _digit_like(n, rng):
    imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    imgs[:, :4] = 0  # empty border rows
    return imgs


def test_digits_is_the_real_data_set():
    ds = load_dataset("digits", (8, 8))
    assert ds.images.shape == (1797, 8, 8) and ds.classes == 10
    assert float(ds.images.max()) == 1.0 and float(ds.images.min()) == 0.0


def test_mnist5k_is_real_mnist():
    ds = load_dataset("mnist5k", (16, 16))
    assert ds.images.shape == (5000, 16, 16)
    assert torch.bincount(ds.labels).tolist() == [500] * 10
    # re-quantized to the 8-bit grid of the source after resizing
    assert torch.allclose(ds.images * 255, torch.round(ds.images * 255), atol=1e-4)


def test_resize_pads_centred_and_shrinks():
    x = torch.ones(1, 6, 6)
    padded = resize(x, (8, 8))
    assert padded.shape == (1, 8, 8) and padded[0, 0].sum() == 0 and padded[0, 1:7, 1:7].min() == 1
    shrunk = resize(torch.ones(2, 28, 28), (16, 16), levels=255)
    assert shrunk.shape == (2, 16, 16) and torch.allclose(shrunk, torch.ones_like(shrunk))


@pytest.mark.parametrize("compress", [False, True])
def test_idx_directory_loads(tmp_path, rng, compress):
    imgs, labels = _digit_like(20, rng), np.arange(20) % 10
    write_mnist_dir(tmp_path / "mnist", imgs, labels, compress)
    ds = load_dataset(f"idx:{tmp_path / 'mnist'}", (32, 32))
    assert ds.images.shape == (20, 32, 32)
    assert ds.labels.tolist() == labels.tolist()
    # padding 28 -> 32 keeps the pixels exactly
    np.testing.assert_allclose(ds.images[:, 2:30, 2:30].numpy(), imgs / 255.0, atol=1e-7)


def test_idx_errors(tmp_path, rng):
    with pytest.raises(InputError, match="does not exist"):
        load_dataset(f"idx:{tmp_path / 'nope'}", (8, 8))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no MNIST IDX files"):
        load_dataset(f"idx:{tmp_path / 'empty'}", (8, 8))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte").write_bytes(b"\x12\x34garbage")
    write_idx(bad / "train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(InputError, match="bad magic"):
        load_dataset(f"idx:{bad}", (8, 8))
    short = tmp_path / "short.idx"
    write_idx(short, _digit_like(2, rng))
    short.write_bytes(short.read_bytes()[:-5])
    with pytest.raises(InputError, match="header says"):
        read_idx(short)


def test_nan_and_all_zero_images_are_rejected(tmp_path, rng):
    imgs = rng.uniform(0, 1, size=(4, 8, 8)).astype(np.float32)
    imgs[2, 3, 3] = np.nan
    write_mnist_dir(tmp_path / "nan", imgs, np.arange(4))
    with pytest.raises(InputError, match="NaN"):
        load_dataset(f"idx:{tmp_path / 'nan'}", (8, 8))
    zeros = _digit_like(4, rng)
    zeros[1] = 0
    write_mnist_dir(tmp_path / "zero", zeros, np.arange(4))
    with pytest.raises(InputError, match=r"all zero \(first: #1\)"):
        load_dataset(f"idx:{tmp_path / 'zero'}", (8, 8))


def test_split_is_stratified_and_seeded():
    ds = load_dataset("digits", (8, 8))
    tr, te = split(ds, seed=0)
    assert len(te) == 360 and len(tr) == 1437 and not set(tr) & set(te)
    tr2, te2 = split(ds, seed=0)
    assert (tr == tr2).all() and (te == te2).all()
    tr3, te3 = split(ds, seed=0, limit=100)
    assert len(tr3) + len(te3) == 100
    assert len(np.unique(ds.labels.numpy()[te3])) == 10


def test_unknown_dataset():
    with pytest.raises(InputError, match="unknown dataset"):
        load_dataset("cifar", (8, 8))


def _train_and_t10k(directory, rng, n_train=70, n_test=30):
    write_mnist_dir(directory, _digit_like(n_train, rng), np.arange(n_train) % 10)
    write_idx(directory / "t10k-images-idx3-ubyte", _digit_like(n_test, rng))
    write_idx(directory / "t10k-labels-idx1-ubyte", (np.arange(n_test) % 10).astype(np.uint8))
    return directory


def test_idx_with_t10k_files_keeps_the_standard_split(tmp_path, rng):
    ds = load_dataset(f"idx:{_train_and_t10k(tmp_path / 'mnist', rng)}", (8, 8))
    assert len(ds.labels) == 100 and ds.official_test == 70
    train, test = split(ds, seed=3)
    assert train.tolist() == list(range(70)) and test.tolist() == list(range(70, 100))
    # a limit draws from each part in proportion, stratified, the same for the same seed
    train, test = split(ds, seed=3, limit=50)
    assert len(train) == 35 and len(test) == 15
    assert train.max() < 70 <= test.min()
    assert np.bincount(ds.labels[test].numpy(), minlength=10).max() <= 2
    again = split(ds, seed=3, limit=50)
    assert train.tolist() == again[0].tolist() and test.tolist() == again[1].tolist()


def test_idx_without_t10k_files_is_split_80_20(tmp_path, rng):
    write_mnist_dir(tmp_path / "train-only", _digit_like(50, rng), np.arange(50) % 10)
    ds = load_dataset(f"idx:{tmp_path / 'train-only'}", (8, 8))
    assert ds.official_test is None
    train, test = split(ds, seed=0)
    assert len(train) == 40 and len(test) == 10
