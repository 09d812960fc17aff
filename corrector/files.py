"""Writes that never leave a half-finished file over a good one, nor replace what the user made.

``atomic_write`` and ``atomic_dir`` write beside the target and rename into place; the result has
the mode a plain ``open()`` / ``mkdir()`` would give under the umask. ``check_output`` is the one
rule every command applies before it starts: an output equal to (or holding) an input is refused;
an existing output is replaced only with ``--overwrite``, and a folder only when it is of the kind
the command writes (``FolderKind``: its marker file, its contents), never a foreign one. Commands
write folders through ``atomic_dir``, which replaces them as a whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from corrector.errors import InputError

OVERWRITE_FLAG = "--overwrite"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def plain_mode(folder: bool = False) -> int:
    """The mode ``open()`` (0o666) or ``mkdir()`` (0o777) gives a new file or folder under the current umask."""
    return (0o777 if folder else 0o666) & ~_umask()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator:
    """Open a temporary file beside ``path``; rename it over ``path`` only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, plain_mode())  # mkstemp makes 0600: colleagues could not read the result
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class FolderKind:
    """A kind of output folder a command writes, recognised by its marker file (and ``test``, if given)."""

    what: str  # e.g. "saved dataset", for messages
    marker: str  # a file every such folder holds, e.g. "corrector.json"
    test: Callable[[Path], bool] | None = None

    def owns(self, folder: Path) -> bool:
        return (folder / self.marker).is_file() and (self.test is None or self.test(folder))


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _refuse_foreign(path: Path, kind: FolderKind) -> None:
    if path.is_dir() and not _is_empty_dir(path) and not kind.owns(path):
        why = f"no {kind.marker}" if not (path / kind.marker).is_file() else "it holds other files"
        raise InputError(
            f"{path}: a non-empty folder that is not a {kind.what} ({why}); it is never replaced, "
            f"even with {OVERWRITE_FLAG}: choose a new or empty folder"
        )


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, kind: FolderKind | None = None) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; it replaces ``path`` as a whole only if the block finishes.

    With ``kind``, an existing non-empty ``path`` that is not such a folder is refused before anything
    is written (a safety net under ``check_output``, for library callers too).
    """
    path = Path(path)
    if kind is not None:
        _refuse_foreign(path, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, plain_mode(folder=True))  # mkdtemp makes 0700
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _inside(inner: Path, outer: Path) -> bool:
    return outer.resolve() in inner.resolve().parents


def check_output(
    path: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    overwrite: bool = False,
    kind: FolderKind | None = None,
) -> None:
    """Refuse an output that would destroy something; call it before any work starts.

    ``kind`` marks a folder output, else ``path`` is a file. Refused, with one
    line naming the path: an output that is an input or, for a folder, holds one (always); an
    existing file or own-kind folder without ``overwrite``; a non-empty folder of another kind
    (always); a folder where a file goes and the reverse.
    """
    path = Path(path)
    for given in inputs:
        if given is None or str(given) == "-":
            continue
        source = Path(given)
        if _same(source, path):
            raise InputError(f"{path}: the output would replace the input {given}; choose another output path")
        if kind is not None and _inside(source, path):
            raise InputError(
                f"{path}: the output folder holds the input {given}, which replacing it would delete; "
                "choose another output folder"
            )
    if not path.exists():
        return
    if kind is None:
        if path.is_dir():
            raise InputError(f"{path}: a folder; the output is a file, so give a file path")
        if not overwrite:
            raise InputError(f"{path} exists; pass {OVERWRITE_FLAG} to replace it")
        return
    if not path.is_dir():
        raise InputError(f"{path}: a file; the output is a {kind.what} folder, so give a folder path")
    if _is_empty_dir(path):
        return
    _refuse_foreign(path, kind)
    if not overwrite:
        raise InputError(f"{path} holds an earlier {kind.what}; pass {OVERWRITE_FLAG} to replace it")
