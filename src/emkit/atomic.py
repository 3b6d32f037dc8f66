"""Atomic file writes: every file emkit writes goes through this module.

A file is written to a temporary file in the same directory, flushed to disk
(``fsync``), and only then renamed over the target with :func:`os.replace`, an
atomic operation on POSIX and Windows. A reader therefore sees the old file or
the complete new one, never a truncated mix, and a crash or an error in the
middle of writing leaves the old file as it was; the temporary file is removed
on any failure (including Ctrl-C).

Two forms, for the two kinds of writers:

* :func:`atomic_write` yields an open file object, for writers that take one
  (``np.savez``, ``DataFrame.to_csv``, ``json.dump``);
* :func:`atomic_path` yields the temporary file's path, for libraries that need a
  path (matplotlib's ``savefig``, Pillow's ``Image.save`` and animation writers,
  ``DataFrame.to_parquet``). The path keeps the target's suffix, so a library
  that picks the format from it picks the same one.

The new file gets the permissions of the file it replaces, or the usual ones of a
new file (``0o666`` less the umask) when there was none. A symbolic link as the
target is followed: the file it points to is replaced, the link stays.

A directory that does not exist or cannot be written to raises the usual
:class:`OSError` subclass (``FileNotFoundError``, ``PermissionError``, ...) with a
message naming the target, not the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_path"]


def _new_file_mode() -> int:
    """``0o666`` less the process's umask (the mode ``open`` would give)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _target(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot write {target}: it is a directory")
    return target


def _cannot_write(exc: OSError, target: Path) -> OSError:
    """The same kind of error, naming the target rather than the temporary file."""
    reason = exc.strerror or str(exc)
    if exc.errno is None:
        return OSError(f"cannot write {target}: {reason}")
    return type(exc)(exc.errno, f"cannot write {target}: {reason}")


def _sync_directory(directory: Path) -> None:
    """Flush the rename to disk where the platform allows it (POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _temporary(target: Path) -> Iterator[str]:
    """A temporary file next to ``target``, renamed over it on success, removed on failure."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}",
                                   dir=target.parent)
    except OSError as exc:
        raise _cannot_write(exc, target) from None
    os.close(fd)
    try:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = _new_file_mode()
        os.chmod(tmp, mode)
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise _cannot_write(exc, target) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _sync_directory(target.parent)


def _sync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb",
                 **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Write ``path`` atomically through an open file object.

    Parameters
    ----------
    path : str or os.PathLike
        The file to (re)place.
    mode : {"wb", "w"}, default "wb"
        Binary or text.
    **open_kwargs
        Passed to :func:`open` for text mode (``encoding``, ``newline``).

    Yields
    ------
    file object
        Open on the temporary file; written, flushed and synced when the block
        ends, then renamed over ``path``.

    Raises
    ------
    OSError
        When the directory does not exist or is not writable (the old file, if
        any, is untouched); any error raised in the block propagates after the
        temporary file is removed.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "facts.json"
    >>> with atomic_write(target, "w", encoding="utf-8") as fh:
    ...     json.dump({"k": 3}, fh)
    >>> target.read_text(encoding="utf-8")
    '{"k": 3}'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    target = _target(path)
    with _temporary(target) as tmp:
        with open(tmp, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Write ``path`` atomically through a temporary path, for writers that need one.

    Parameters
    ----------
    path : str or os.PathLike
        The file to (re)place.

    Yields
    ------
    pathlib.Path
        An empty temporary file in the same directory, with the same suffix as
        ``path``; whatever the block writes there is synced and renamed over
        ``path`` when it ends.

    Raises
    ------
    OSError
        As for :func:`atomic_write`; also when the block left no file there.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_bytes(b"done")  # a library writing to a path
    >>> target.read_bytes()
    b'done'
    """
    target = _target(path)
    with _temporary(target) as tmp:
        yield Path(tmp)
        if not os.path.isfile(tmp):
            raise FileNotFoundError(errno.ENOENT,
                                    f"cannot write {target}: the writer left no file")
        _sync_file(tmp)
