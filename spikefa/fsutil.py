"""Crash-safe files: atomic replacement, free-space and writability checks.

A file written with :func:`atomic_write` goes to ``NAME.tmp``, is fsync'ed, renamed over
``NAME`` and the folder is fsync'ed, so a kill (or power loss) at any moment leaves either
the old file or the new one, never a mixture; a failed write (a full disk) removes the
temporary file and leaves the old file as it was.
"""

import errno
import os
import shutil
import tempfile
from pathlib import Path

from .errors import StorageError

TMP_SUFFIX = ".tmp"


def tmp_path(path) -> Path:
    """The temporary name :func:`atomic_write` uses for ``path``."""
    path = Path(path)
    return path.with_name(path.name + TMP_SUFFIX)


def fsync_dir(folder) -> None:
    """Make a rename inside ``folder`` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reason(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "the disk is full (No space left on device)"
    if err.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    return err.strerror or str(err)


def atomic_write(path, write, what: str) -> None:
    """Write ``path`` atomically: ``write(tmp)`` fills the temporary file, then rename.

    Parameters
    ----------
    path : path-like
        Final name of the file.
    write : callable
        ``write(tmp: Path)`` writes the whole file to ``tmp``.
    what : str
        What the file is ("checkpoint", "result file"), for the error message.

    Raises
    ------
    StorageError
        When writing, syncing or renaming fails (full disk, read-only folder); the
        temporary file is removed and any previous ``path`` is left untouched.
    """
    path = Path(path)
    tmp = tmp_path(path)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        kept = f"; the previous {what} is intact" if path.exists() else ""
        raise StorageError(f"cannot write the {what} {path}: {_reason(err)}{kept}") from None
    fsync_dir(path.parent)


def remove_stale_tmp(path) -> bool:
    """Remove the temporary file a kill during :func:`atomic_write` left; True if one was there."""
    tmp = tmp_path(path)
    try:
        tmp.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError as err:
        raise StorageError(f"cannot remove the stale temporary file {tmp}: {_reason(err)}") from None


def prepare_folder(folder) -> Path:
    """Create ``folder`` if needed and check that files can be created in it.

    Writability is probed by creating (and removing) a file, which is the only test that
    also holds for root, read-only mounts and network file systems.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".spikefa-probe-"):
            pass
    except (OSError, ValueError) as err:
        reason = _reason(err) if isinstance(err, OSError) else str(err)
        raise StorageError(f"output folder {folder} is not writable: {reason}; choose another --out") from None
    return folder


def check_free_space(folder, need: int, what: str) -> None:
    """Raise StorageError when ``folder``'s file system has fewer than ``need`` bytes free."""
    free = shutil.disk_usage(folder).free
    if free < need:
        raise StorageError(f"output folder {folder} has {_mib(free)} free but {what} needs about "
                           f"{_mib(need)}; free some space or choose another --out")


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"
