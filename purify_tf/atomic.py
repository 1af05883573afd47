"""Atomic outputs: a file or directory appears at its final path complete, or not at all.

Long jobs get killed and disks fill up. Every output is first written under a hidden temporary
name in the *same* directory (so the final ``os.replace``/``os.rename`` is an atomic rename on one
filesystem), flushed to disk, and only then moved into place; on any error the temporary is
removed and whatever was at the final path before is left untouched.

OS errors (read-only directory, full disk, permission denied) are re-raised as the same
``OSError`` subclass with a message that names the path and says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_path", "atomic_directory", "fsync_directory"]

_HINTS = {
    errno.ENOSPC: "the disk is full; free some space or choose another output location",
    errno.EDQUOT: "the disk quota is exceeded; free some space or choose another output location",
    errno.EROFS: "the file system is read-only; choose a writable output location",
    errno.EACCES: "permission denied; choose a writable output location",
    errno.EPERM: "operation not permitted; choose a writable output location",
}


def _explain(exc: OSError, path: str | os.PathLike, action: str) -> OSError:
    """The same kind of OSError, with a message naming ``path`` and a hint the user can act on."""
    hint = _HINTS.get(exc.errno or 0, exc.strerror or str(exc))
    new = OSError(exc.errno, f"cannot {action} {os.fspath(path)!r}: {hint}")
    new.filename = os.fspath(path)
    return new


def fsync_directory(directory: str | os.PathLike) -> None:
    """Flush a directory entry (a rename) to disk; a no-op where directories cannot be opened."""
    try:
        fd = os.open(os.fspath(directory), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_name(final: Path, tag: str) -> Path:
    # Keep the suffix: writers such as cv2.imwrite and cv2.VideoWriter pick the format from it.
    return final.with_name(f".{final.stem}.{tag}-{uuid.uuid4().hex[:8]}{final.suffix}")


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; on success fsync it and rename it into place.

    The caller writes the temporary path with any writer (cv2.imwrite, VideoWriter, h5py...). If
    the block raises, or the writer produced no file, the temporary is removed and nothing appears at
    ``final_path``. With ``overwrite=False`` an existing ``final_path`` raises ``FileExistsError``
    before anything is written (and is re-checked just before the rename).
    """
    final = Path(final_path)
    if not overwrite and final.exists():
        raise FileExistsError(errno.EEXIST, f"{final} exists (pass overwrite=True to replace it)", str(final))
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _explain(exc, final.parent, "create directory") from exc
    tmp = _temp_name(final, "tmp")
    try:
        yield tmp
        if not tmp.exists():
            raise OSError(errno.ENOENT, f"the writer produced no file for {final}", str(final))
        if not overwrite and final.exists():
            raise FileExistsError(errno.EEXIST, f"{final} appeared while writing it", str(final))
        try:
            _fsync_file(str(tmp))
            os.replace(tmp, final)
        except OSError as exc:
            raise _explain(exc, final, "write") from exc
        fsync_directory(final.parent)
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; returns the final path."""
    final = Path(path)
    with atomic_path(final, overwrite=overwrite) as tmp:
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise _explain(exc, final, "write") from exc
    return final


@contextlib.contextmanager
def atomic_directory(final_dir: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``final_dir``; on success rename it into place.

    An existing ``final_dir`` raises ``FileExistsError`` unless ``overwrite=True``; then the old
    directory is first renamed aside, the new one renamed in, and only then the old one deleted, so
    a failure at any point leaves either the old or the new directory at ``final_dir``.
    """
    final = Path(final_dir)
    if final.exists() and not overwrite:
        raise FileExistsError(errno.EEXIST, f"{final} exists (pass overwrite=True to replace it)", str(final))
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
        # mkdtemp makes it private (0700); a served model must be readable by the server's user.
        os.chmod(tmp, 0o777 & ~_umask())
    except OSError as exc:
        raise _explain(exc, final.parent, "create a directory in") from exc
    try:
        yield tmp
        for root, _, files in os.walk(tmp):
            for name in files:
                _fsync_file(os.path.join(root, name))
        old = None
        if final.exists():
            if not overwrite:
                raise FileExistsError(errno.EEXIST, f"{final} appeared while writing it", str(final))
            old = _temp_name(final, "old")
            try:
                os.rename(final, old)
            except OSError as exc:
                raise _explain(exc, final, "replace") from exc
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if old is not None:
                os.rename(old, final)  # put the previous version back
            raise _explain(exc, final, "write") from exc
        fsync_directory(final.parent)
        if old is not None:
            _remove(old)
    except BaseException:
        _remove(tmp)
        raise
