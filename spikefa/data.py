"""Load MNIST and Fashion-MNIST from the standard IDX ``.gz`` files.

Files are searched in the ``data_dir`` argument, ``$SPIKEFA_DATA``, then the user cache
``$XDG_CACHE_HOME/spikefa/data`` (default ``~/.cache/spikefa/data``), each directly or in a
subfolder named after the data set, and downloaded into the cache if absent everywhere.
Every problem with a file raises :class:`~spikefa.errors.DataError` with a one-line message.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError

__all__ = ["DATASETS", "find_data_dir", "load", "read_idx", "verify_file"]

#: Seconds a download may stall on one socket operation (and connect) before it fails.
DOWNLOAD_TIMEOUT = 10.0
#: Seconds one file's download may take in all, so a trickling server cannot hang us.
DOWNLOAD_DEADLINE = 300.0


def _spec(mirrors, *files):
    keys = ("train_images", "train_labels", "test_images", "test_labels")
    return {"mirrors": list(mirrors),
            "files": {k: {"file": f, "size": s, "sha256": h} for k, (f, s, h) in zip(keys, files)}}


#: name -> {"mirrors": [base URL, ...], "files": {"train_images" | "train_labels" |
#: "test_images" | "test_labels": {"file": name, "size": bytes, "sha256": hex digest}}}
DATASETS = {
    "mnist": _spec(
        ["https://ossci-datasets.s3.amazonaws.com/mnist/",
         "https://storage.googleapis.com/cvdf-datasets/mnist/"],
        ("train-images-idx3-ubyte.gz", 9912422,
         "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        ("train-labels-idx1-ubyte.gz", 28881,
         "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        ("t10k-images-idx3-ubyte.gz", 1648877,
         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        ("t10k-labels-idx1-ubyte.gz", 4542,
         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")),
    "fashion-mnist": _spec(
        ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        ("train-images-idx3-ubyte.gz", 26421880,
         "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        ("train-labels-idx1-ubyte.gz", 29515,
         "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        ("t10k-images-idx3-ubyte.gz", 4422102,
         "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        ("t10k-labels-idx1-ubyte.gz", 5148,
         "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5")),
}

# IDX type code (third magic byte) -> big-endian dtype.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MAX_DIMS = 32  # NumPy 1 allows 32 dimensions, NumPy 2 64
_VERIFIED: set = set()  # (path, mtime_ns, size, sha256) of files that passed verify_file


def _dataset(name):
    if name not in DATASETS:
        raise ConfigError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spikefa" / "data"


def _candidates(name, data_dir=None) -> list[Path]:
    # an explicit folder is authoritative: silently reading other files would surprise
    roots = [data_dir] if data_dir is not None else [os.environ.get("SPIKEFA_DATA") or None, _cache_root()]
    folders = []
    for root in roots:
        if root is not None:
            root = Path(os.path.expanduser(os.fspath(root)))
            folders += [p for p in (root / name, root) if p not in folders]
    return folders


def find_data_dir(name, data_dir=None) -> Path:
    """Return the first folder (a :class:`pathlib.Path`) holding all four files of `name`.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    data_dir : str or os.PathLike, optional
        The only folder searched when given; otherwise ``$SPIKEFA_DATA``, then the user
        cache. Each root is tried as ``root/name`` and then as ``root`` itself.

    Raises
    ------
    DataError
        When no searched folder holds all four files; the message lists the folders.
    """
    files = [f["file"] for f in _dataset(name)["files"].values()]
    folders = _candidates(name, data_dir)
    for folder in folders:
        if all((folder / f).is_file() for f in files):
            return folder
    best = max(folders, key=lambda d: sum((d / f).is_file() for f in files))
    missing = [f for f in files if not (best / f).is_file()]
    raise DataError(
        f"{name} file {missing[0]}{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}"
        f" not found; searched {', '.join(map(str, folders))}; set SPIKEFA_DATA or pass"
        f" --data-dir pointing at a folder with the standard IDX .gz files ({', '.join(files)}),"
        f" or run on a machine with internet to download them into"
        f" {Path(os.path.expanduser(os.fspath(data_dir))) / name if data_dir is not None else _cache_root() / name}")


def verify_file(path, size, sha256) -> None:
    """Check that file `path` has `size` bytes and the hex SHA-256 digest `sha256`.

    A success is remembered in-process, keyed by path, mtime and size, so repeated loads
    do not hash again. Raises DataError if the file is unreadable, of another size
    (truncated) or of another digest (corrupt).
    """
    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size, sha256)
        if key in _VERIFIED:
            return
        if st.st_size != size:
            raise DataError(f"{path} is truncated or not the expected file: expected {size}"
                            f" bytes, found {st.st_size}; delete it and download it again")
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        found = digest.hexdigest()
    except OSError as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"cannot read {path}: {err.strerror or err}") from err
    if found != sha256:
        raise DataError(f"{path} is corrupt: expected sha256 {sha256}, found {found};"
                        " delete it and download it again")
    _VERIFIED.add(key)


def read_idx(path) -> np.ndarray:
    """Parse one IDX file, gzipped (detected by its magic bytes) or not.

    Returns
    -------
    numpy.ndarray
        A fresh, writable array of the shape in the header (big-endian int32 dimensions)
        and the native dtype of the type code (magic ``0x0000080N`` gives ``uint8``, N-d).

    Raises
    ------
    DataError
        For any unreadable, truncated or malformed file (and no other exception type).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from err
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, ValueError, zlib.error) as err:
            raise DataError(f"{path} is not a valid gzip file (truncated or corrupt):"
                            f" {err}; delete it and download it again") from err
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES or raw[3] == 0:
        found = "0x" + raw[:4].hex() if raw else "an empty file"
        raise DataError(f"{path} is not an IDX file: expected magic 0x000008NN (NN = number"
                        f" of dimensions), found {found}")
    ndim, header = raw[3], 4 + 4 * raw[3]
    if ndim > _MAX_DIMS:   # the format allows 255, NumPy arrays have at most 64
        raise DataError(f"{path} is not a usable IDX file: its header declares {ndim} dimensions,"
                        f" more than the {_MAX_DIMS} an array can have")
    if len(raw) < header:
        raise DataError(f"{path} is truncated: expected a {header}-byte IDX header with"
                        f" {ndim} dimensions, found {len(raw)} bytes")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = dtype.itemsize * math.prod(shape)
    if len(raw) - header != expected:
        raise DataError(f"{path} has dimensions {shape} of {dtype.name}, which need {expected}"
                        f" data bytes, but found {len(raw) - header} (truncated or corrupt)")
    try:
        return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
    except ValueError as err:   # e.g. (0, 2**32 - 1, 2**32 - 1): no bytes, yet too big a shape
        raise DataError(f"{path} has dimensions {shape}, which no array can have: {err}") from None


def _download(name, dest: Path) -> None:
    """Download the missing files of `name` into `dest`; raise OSError on failure."""
    spec = _dataset(name)
    made = [d for d in (dest, *dest.parents) if not d.exists()]   # removed again if nothing arrives
    dest.mkdir(parents=True, exist_ok=True)
    try:
        _download_files(spec, dest)
    except OSError:
        for d in made:          # innermost first; a folder that holds anything stays
            try:
                d.rmdir()
            except OSError:
                break
        raise


def _download_files(spec, dest: Path) -> None:
    for f in spec["files"].values():
        target = dest / f["file"]
        if target.is_file():
            continue
        errors = []
        for base in spec["mirrors"]:
            try:
                _fetch(base + f["file"], target, f["size"], f["sha256"])
                break
            except OSError as err:  # URLError, timeouts and DataError are all OSErrors
                errors.append(f"{base + f['file']}: {getattr(err, 'reason', err)}")
        else:
            raise OSError("; ".join(errors))


def _fetch(url, target: Path, size, sha256) -> None:
    deadline = time.monotonic() + DOWNLOAD_DEADLINE
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp:  # noqa: S310
            for block in iter(lambda: resp.read(1 << 16), b""):
                out.write(block)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"took over {DOWNLOAD_DEADLINE:.0f} s")
        verify_file(tmp, size, sha256)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(name="mnist", split="train", data_dir=None, download=True, verify=True):
    """Load one split of MNIST or Fashion-MNIST.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    split : {"train", "test"}
    data_dir : str or os.PathLike, optional
        The folder holding the files; default ``$SPIKEFA_DATA``, then the cache (see
        :func:`find_data_dir`).
    download : bool
        Download into ``data_dir/name`` (default: the cache) when no folder holds the files.
    verify : bool
        Check each file's size and SHA-256 before parsing it.

    Returns
    -------
    images : numpy.ndarray of float32, shape (n, 784)
        Pixels scaled to [0, 1], rows in file order (n = 60000 for train, 10000 for test).
    labels : numpy.ndarray of int64, shape (n,)
        Class indices 0..9.

    Raises
    ------
    DataError
        If a file is missing (and cannot be downloaded), truncated, corrupt or malformed.
    """
    spec = _dataset(name)
    if split not in ("train", "test"):
        raise ConfigError(f"unknown split {split!r}; choose 'train' or 'test'")
    try:
        folder = find_data_dir(name, data_dir)
    except DataError as err:
        if not download:
            raise DataError(f"{err} (downloading is off)") from None
        try:
            _download(name, Path(os.path.expanduser(os.fspath(data_dir or _cache_root()))) / name)
        except OSError as dl_err:
            reason = getattr(dl_err, "reason", None) or dl_err
            raise DataError(f"{err}; download failed: {reason}") from None
        folder = find_data_dir(name, data_dir)
    fimg, flab = spec["files"][f"{split}_images"], spec["files"][f"{split}_labels"]
    pimg, plab = folder / fimg["file"], folder / flab["file"]
    if verify:
        verify_file(pimg, fimg["size"], fimg["sha256"])
        verify_file(plab, flab["size"], flab["sha256"])
    images, labels = read_idx(pimg), read_idx(plab)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{pimg} has wrong dimensions: expected uint8 images of shape"
                        f" (n, 28, 28), found {images.dtype} of shape {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{plab} has wrong dimensions: expected uint8 labels of shape (n,),"
                        f" found {labels.dtype} of shape {labels.shape}")
    if len(labels) != len(images):
        raise DataError(f"{plab} holds {len(labels)} labels but {pimg} holds {len(images)}"
                        " images: expected equal counts")
    if labels.size and labels.max() > 9:
        raise DataError(f"{plab} has label {labels.max()}: expected labels 0..9")
    x = images.reshape(len(images), 784).astype(np.float32)
    x /= np.float32(255.0)
    return x, labels.astype(np.int64)
