"""Atomic outputs: nothing partial at the final path, earlier outputs kept, errors name the path."""

from __future__ import annotations

import errno
import os

import pytest

from purify_tf import atomic


def _leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_write_bytes_and_overwrite_rules(tmp_path):
    path = atomic.atomic_write_bytes(tmp_path / "sub" / "a.bin", b"one")
    assert path.read_bytes() == b"one"
    atomic.atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    with pytest.raises(FileExistsError):
        atomic.atomic_write_bytes(path, b"three", overwrite=False)
    assert path.read_bytes() == b"two" and _leftovers(path.parent) == []


def test_writer_raising_midway_leaves_nothing(tmp_path):
    final = tmp_path / "out.png"
    final.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic.atomic_path(final) as tmp:
            assert tmp.parent == final.parent and tmp.suffix == ".png"  # writers pick format by suffix
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert final.read_bytes() == b"previous" and _leftovers(tmp_path) == []
    with pytest.raises(OSError, match="produced no file"):
        with atomic.atomic_path(tmp_path / "never.png"):
            pass
    assert not (tmp_path / "never.png").exists()


def test_full_disk_and_read_only_errors_name_the_path(tmp_path, monkeypatch):
    final = tmp_path / "x.bin"
    final.write_bytes(b"keep")

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError) as info:
        atomic.atomic_write_bytes(final, b"new")
    assert info.value.errno == errno.ENOSPC and str(final) in str(info.value) and "disk is full" in str(info.value)
    assert final.read_bytes() == b"keep" and _leftovers(tmp_path) == []
    monkeypatch.undo()

    def read_only(*_args, **_kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.Path, "mkdir", read_only)
    with pytest.raises(OSError) as info:
        atomic.atomic_write_bytes(tmp_path / "new" / "y.bin", b"data")
    assert "read-only" in str(info.value) and str(tmp_path / "new") in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_real_read_only_directory(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=str(tmp_path)):
            atomic.atomic_write_bytes(tmp_path / "z.bin", b"data")
    finally:
        tmp_path.chmod(0o700)


def test_atomic_directory(tmp_path):
    final = tmp_path / "model" / "1"
    with atomic.atomic_directory(final) as tmp:
        (tmp / "a.txt").write_text("v1")
        assert not final.exists()
    assert (final / "a.txt").read_text() == "v1"
    assert oct(final.stat().st_mode & 0o777) != oct(0o700)  # readable by a server's user
    with pytest.raises(FileExistsError):
        with atomic.atomic_directory(final):
            pass
    with pytest.raises(ValueError):
        with atomic.atomic_directory(final, overwrite=True) as tmp:
            (tmp / "a.txt").write_text("broken")
            raise ValueError("interrupted")
    assert (final / "a.txt").read_text() == "v1" and _leftovers(final.parent) == []
    with atomic.atomic_directory(final, overwrite=True) as tmp:
        (tmp / "b.txt").write_text("v2")
    assert sorted(p.name for p in final.iterdir()) == ["b.txt"] and _leftovers(final.parent) == []
