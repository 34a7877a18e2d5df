"""Tests of spikefa.data: the MNIST / Fashion-MNIST IDX loader."""

import gzip
import hashlib
import os
import struct
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikefa import data
from spikefa.errors import DataError

SHARED = Path("/work/shared/data")
FILES = [f["file"] for f in data.DATASETS["mnist"]["files"].values()]


_REAL = os.environ.get("SPIKEFA_DATA") or (str(SHARED) if SHARED.is_dir() else None)
_REAL = _REAL and os.path.abspath(_REAL)  # symlinks made below must not be relative


def _real_root():
    """Root holding real MNIST (read before any fixture clears SPIKEFA_DATA), else skip."""
    if _REAL and any((Path(_REAL) / sub / FILES[0]).is_file() for sub in ("mnist", "")):
        return Path(_REAL)
    pytest.skip("real MNIST files not found (set SPIKEFA_DATA)")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No SPIKEFA_DATA, an empty cache, and a download that fails like an offline machine."""
    monkeypatch.delenv("SPIKEFA_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def offline(name, dest):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(data, "_download", offline)
    return tmp_path


def write_idx(path, array, gz=True, magic=None):
    """Write `array` (uint8) as an IDX file, optionally with a forced magic number."""
    array = np.asarray(array, dtype=np.uint8)
    head = struct.pack(">I", magic if magic is not None else 0x800 + array.ndim)
    head += struct.pack(f">{array.ndim}I", *array.shape)
    raw = head + array.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def fake_set(folder, n_train=6, n_test=4, seed=0):
    """Write the four files of a tiny synthetic data set into `folder`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    return folder


# --- real data -------------------------------------------------------------------------

def test_real_mnist():
    root = _real_root()
    x, y = data.load("mnist", "train", data_dir=root, download=False)
    assert x.shape == (60000, 784) and x.dtype == np.float32
    assert y.shape == (60000,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    assert y[0] == 5
    xt, yt = data.load("mnist", "test", data_dir=root, download=False)
    assert xt.shape == (10000, 784) and yt.shape == (10000,)
    assert yt[0] == 7 and 0.0 <= xt.min() and xt.max() <= 1.0
    # the verification is cached, so a repeat load does not hash again
    t0 = time.perf_counter()
    data.load("mnist", "test", data_dir=root, download=False)
    assert time.perf_counter() - t0 < 2.0


def test_real_fashion_labels():
    root = _real_root()
    if not (root / "fashion-mnist").is_dir():
        pytest.skip("no fashion-mnist folder")
    x, y = data.load("fashion-mnist", "test", data_dir=root, download=False)
    assert x.shape == (10000, 784) and y.shape == (10000,)
    assert np.bincount(y).tolist() == [1000] * 10


# --- finding files ---------------------------------------------------------------------

def test_find_subfolder_layout(isolated):
    fake_set(isolated / "root" / "mnist")
    assert data.find_data_dir("mnist", isolated / "root") == isolated / "root" / "mnist"


def test_find_flat_layout_symlinks(isolated):
    src = fake_set(isolated / "src")
    flat = isolated / "flat"
    flat.mkdir()
    for f in FILES:
        (flat / f).symlink_to(src / f)
    assert data.find_data_dir("mnist", flat) == flat


def test_find_order_env_and_cache(isolated, monkeypatch):
    cache = fake_set(isolated / "cache" / "spikefa" / "data" / "mnist")
    assert data.find_data_dir("mnist") == cache
    env = fake_set(isolated / "env")
    monkeypatch.setenv("SPIKEFA_DATA", str(env))
    assert data.find_data_dir("mnist") == env
    explicit = fake_set(isolated / "explicit" / "mnist")
    assert data.find_data_dir("mnist", str(isolated / "explicit")) == explicit
    # an explicit folder is the only one searched: without the files it is an error
    with pytest.raises(DataError, match="nowhere"):
        data.find_data_dir("mnist", isolated / "nowhere")


def test_incomplete_folder_is_skipped(isolated):
    part = fake_set(isolated / "part")
    (part / FILES[3]).unlink()
    with pytest.raises(DataError, match=FILES[3]):
        data.find_data_dir("mnist", part)


def test_load_synthetic_without_verify(isolated):
    fake_set(isolated / "d", n_train=6, n_test=4)
    x, y = data.load("mnist", "train", data_dir=isolated / "d", verify=False)
    assert x.shape == (6, 784) and x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and 0 <= y.min() and y.max() <= 9
    raw = data.read_idx(isolated / "d" / "train-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(x, raw.reshape(6, 784) / np.float32(255))


# --- missing and bad files -------------------------------------------------------------

def test_missing_offline_fails_fast_with_one_line(isolated):
    t0 = time.perf_counter()
    with pytest.raises(DataError) as err:
        data.load("mnist", data_dir=isolated / "empty", download=True)
    assert time.perf_counter() - t0 < 5.0
    msg = str(err.value)
    assert "\n" not in msg
    assert FILES[0] in msg and str(isolated / "empty") in msg
    assert "SPIKEFA_DATA" in msg and "--data-dir" in msg and "download failed" in msg


def test_missing_without_download(isolated, monkeypatch):
    def boom(*a):
        raise AssertionError("must not download")

    monkeypatch.setattr(data, "_download", boom)
    with pytest.raises(DataError, match="SPIKEFA_DATA"):
        data.load("fashion-mnist", data_dir=isolated, download=False)


def test_corrupt_file_flipped_byte(isolated):
    root = _real_root()
    d = isolated / "d"
    d.mkdir()
    for f in FILES:  # symlink the big files, copy the one we damage
        (d / f).symlink_to(data.find_data_dir("mnist", root) / f)
    target = d / "t10k-labels-idx1-ubyte.gz"
    blob = bytearray(target.read_bytes())
    target.unlink()
    blob[100] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz.*corrupt.*sha256") as err:
        data.load("mnist", "test", data_dir=d, download=False)
    assert "\n" not in str(err.value)


def test_verify_file_truncated(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(b"abc")
    with pytest.raises(DataError, match=r"x\.gz.*expected 10 bytes, found 3"):
        data.verify_file(p, 10, "0" * 64)
    with pytest.raises(DataError, match=r"absent\.gz.*No such file"):
        data.verify_file(tmp_path / "absent.gz", 3, "0" * 64)


def test_truncated_gzip(tmp_path):
    p = write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(1000) % 10)
    p.write_bytes(p.read_bytes()[:-30])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz.*gzip"):
        data.read_idx(p)


def test_truncated_data(tmp_path):
    p = tmp_path / "imgs.idx"
    p.write_bytes(struct.pack(">IIII", 0x803, 5, 28, 28) + bytes(100))
    with pytest.raises(DataError, match=r"imgs\.idx.*\(5, 28, 28\).*3920.*found 100"):
        data.read_idx(p)


def test_wrong_magic(tmp_path):
    p = write_idx(tmp_path / "bad.gz", np.zeros(4), magic=0x12345678)
    with pytest.raises(DataError, match=r"bad\.gz.*magic.*0x12345678"):
        data.read_idx(p)


def test_wrong_dimensions_and_count_mismatch(isolated):
    d = fake_set(isolated / "d")
    write_idx(d / "train-images-idx3-ubyte.gz", np.zeros((6, 27, 28)))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz.*\(n, 28, 28\)"):
        data.load("mnist", "train", data_dir=d, verify=False)
    write_idx(d / "train-images-idx3-ubyte.gz", np.zeros((7, 28, 28)))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz.*6 labels.*7 images"):
        data.load("mnist", "train", data_dir=d, verify=False)


def test_read_idx_roundtrip_raw_and_gz(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for gz in (False, True):
        out = data.read_idx(write_idx(tmp_path / f"a{gz}", a, gz=gz))
        assert out.dtype == np.uint8 and out.flags.writeable
        np.testing.assert_array_equal(out, a)
    p = tmp_path / "f.idx"
    p.write_bytes(struct.pack(">II", 0xD01, 2) + np.array([1.5, -2], ">f4").tobytes())
    np.testing.assert_array_equal(data.read_idx(p), np.array([1.5, -2], np.float32))


def test_unknown_name_or_split():
    with pytest.raises(ValueError, match="cifar"):
        data.load("cifar")
    with pytest.raises(ValueError, match="valid"):
        data.load("mnist", "valid")


# --- fuzzing ---------------------------------------------------------------------------

_idx_like = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda t, n, dims, body: bytes([0, 0, t, n]) + dims + body,
              st.sampled_from([8, 9, 11, 12, 13, 14, 7]), st.integers(0, 4),
              st.binary(max_size=20), st.binary(max_size=100)),
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(blob=_idx_like, gz=st.booleans(), cut=st.integers(0, 50))
def test_read_idx_fuzz(tmp_path, blob, gz, cut):
    if gz:
        blob = gzip.compress(blob)
        blob = blob[: len(blob) - cut] if cut < len(blob) else blob
    p = tmp_path / "fuzz.idx"
    p.write_bytes(blob)
    try:
        out = data.read_idx(p)
    except DataError as err:
        assert "fuzz.idx" in str(err) and "\n" not in str(err)
    else:
        assert isinstance(out, np.ndarray)


def test_download_writes_atomically(isolated, monkeypatch):
    """A served file lands verified in the cache; a bad one leaves no file behind."""
    src = fake_set(isolated / "src")
    lab = src / "t10k-labels-idx1-ubyte.gz"
    good = {"file": lab.name, "size": lab.stat().st_size,
            "sha256": hashlib.sha256(lab.read_bytes()).hexdigest()}
    dest = isolated / "dl"
    dest.mkdir()
    url = lab.as_uri()
    data._fetch(url, dest / lab.name, good["size"], good["sha256"])
    assert (dest / lab.name).read_bytes() == lab.read_bytes()
    with pytest.raises(DataError):
        data._fetch(url, dest / "other.gz", good["size"], "0" * 64)
    assert sorted(os.listdir(dest)) == [lab.name]
