"""Writes that never leave a half-finished file over a good one, nor replace what the user made.

``atomic_write`` and ``atomic_dir`` write beside the target and rename into place; the result has
the mode a plain ``open()`` / ``mkdir()`` would give under the umask. ``check_output`` is the one
rule every command applies before it starts: an output equal to (or holding) an input is refused;
an existing output is replaced only with ``--overwrite``, and a folder only when this project wrote
it as the kind the command writes, never a foreign one.

Ownership is one rule: ``stamp`` is the mark the project puts in what it may later replace (its
own key, the kind and a format number), ``stamped`` recognises it. A folder carries it in a hidden
marker file (``MARKER``, written by ``mark``) that also lists the entries the project put there, so
a folder the user added files to is foreign again (``FolderKind.owns``). A file name alone (a
hand-written ``results.json``) proves nothing. Commands write folders through ``atomic_dir``, which
marks them and replaces them as a whole.

``output_lock`` is an advisory ``flock`` on a lock file beside an output, held while a command
writes it: a second run on the same output is refused in one line naming the holder's pid.
``uninterrupted`` holds a Ctrl-C off while a short commit finishes, then raises it: never cut in
half, never lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any

from corrector.errors import InputError

OVERWRITE_FLAG = "--overwrite"
OWNER = "corrector"  # the key of the project's mark
MARK_FORMAT = 1
MARKER = ".corrector-output.json"  # a folder's mark: the kind, and the entries the project wrote


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def plain_mode(folder: bool = False) -> int:
    """The mode ``open()`` (0o666) or ``mkdir()`` (0o777) gives a new file or folder under the current umask."""
    return (0o777 if folder else 0o666) & ~_umask()


def give_plain_modes(folder: str | os.PathLike) -> None:
    """Every file and folder under ``folder`` gets the mode ``open()`` / ``mkdir()`` would give under the umask.

    Libraries save some files 0600 (safetensors, torch): colleagues sharing the output could not read them.
    """
    for path in Path(folder).rglob("*"):
        if not path.is_symlink():
            os.chmod(path, plain_mode(folder=path.is_dir()))


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


def stamp(kind: str, **info: Any) -> dict[str, Any]:
    """The project's mark on something it writes and may later replace: its key, the kind, the format."""
    return {OWNER: {"kind": kind, "format": MARK_FORMAT}, **info}


def stamped(data: Any, kind: str | None = None) -> bool:
    """Whether ``data`` (a parsed JSON value) carries the project's mark (of ``kind``, if given)."""
    mark = data.get(OWNER) if isinstance(data, dict) else None
    return (
        isinstance(mark, dict)
        and isinstance(mark.get("format"), int)
        and isinstance(mark.get("kind"), str)
        and (kind is None or mark["kind"] == kind)
    )


def read_mark(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The mark of a folder the project wrote (its ``MARKER`` file), or None."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if stamped(data) else None


def mark(folder: str | os.PathLike, kind: str, entries: bool = True) -> None:
    """Mark ``folder`` as a ``kind`` the project wrote, listing its entries (``entries=False``: not yet known)."""
    folder = Path(folder)
    listed = sorted(p.name for p in folder.iterdir() if p.name != MARKER) if entries else None
    with atomic_write(folder / MARKER) as f:
        json.dump(stamp(kind, entries=listed), f)
        f.write("\n")


@dataclass(frozen=True)
class FolderKind:
    """A kind of output folder a command writes: the mark's kind ``what`` (and ``test``, if given)."""

    what: str  # e.g. "saved dataset": the mark's kind, and the words of messages
    _: KW_ONLY
    test: Callable[[Path], bool] | None = None
    marked_as: str | None = None  # the mark's kind when it differs from ``what`` (a refinement, e.g. generate's)

    @property
    def kind(self) -> str:
        return self.marked_as or self.what

    def foreign(self, folder: Path) -> str | None:
        """Why ``folder`` is not one of this kind the project wrote (None: it is)."""
        found = read_mark(folder)
        if found is None:
            return f"no {MARKER}: corrector did not write it"
        if found[OWNER]["kind"] != self.kind:
            return f"corrector wrote it as {a(found[OWNER]['kind'])}"
        listed = found.get("entries")
        extra = sorted(
            p.name for p in folder.iterdir() if p.name != MARKER and listed is not None and p.name not in listed
        )
        if extra:
            shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
            return f"it holds files corrector did not write there: {shown}"
        if self.test is not None and not self.test(folder):
            return f"its contents are not {a(self.what)}'s"
        return None

    def owns(self, folder: Path) -> bool:
        return folder.is_dir() and self.foreign(folder) is None


def a(noun: str) -> str:
    """``noun`` with its indefinite article: "an evaluation run folder", "a saved dataset"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _refuse_foreign(path: Path, kind: FolderKind) -> None:
    if path.is_dir() and not _is_empty_dir(path):
        why = kind.foreign(path)
        if why is not None:
            raise InputError(
                f"{path}: a non-empty folder that is not {a(kind.what)} ({why}); it is never replaced, "
                f"even with {OVERWRITE_FLAG}: choose a new or empty folder"
            )


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, kind: FolderKind | None = None) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; it replaces ``path`` as a whole only if the block finishes.

    With ``kind``, an existing non-empty ``path`` that is not such a folder is refused before anything
    is written (a safety net under ``check_output``, for library callers too), and the new folder is
    marked as that kind (``mark``).
    """
    path = Path(path)
    if kind is not None:
        _refuse_foreign(path, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, plain_mode(folder=True))  # mkdtemp makes 0700
        yield tmp
        if kind is not None:
            mark(tmp, kind.kind)
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
        raise InputError(f"{path}: a file; the output is a folder ({a(kind.what)}), so give a folder path")
    if _is_empty_dir(path):
        return
    _refuse_foreign(path, kind)
    if not overwrite:
        raise InputError(f"{path} holds an earlier {kind.what}; pass {OVERWRITE_FLAG} to replace it")


def lock_path(output: str | os.PathLike) -> Path:
    """The lock file of an output: hidden, beside it (a folder output is replaced by renaming)."""
    output = Path(output)
    return output.with_name(f".{output.name}.lock")


_LOCKS_HELD: dict[str, int] = {}  # lock file -> how many blocks of this process hold it


@contextlib.contextmanager
def output_lock(output: str | os.PathLike) -> Iterator[None]:
    """Hold an advisory lock on ``output`` while the block writes it; refuse if another run holds it.

    ``flock`` on ``lock_path(output)``, which holds the holder's pid; the kernel releases it when the
    process ends, however it ends. The file goes when the block ends (a run that opened the old file
    in the meantime notices and retries on the new one). Within one process the lock is re-entrant.
    """
    lock = lock_path(output)
    lock.parent.mkdir(parents=True, exist_ok=True)
    key = str(lock.resolve())
    if key in _LOCKS_HELD:  # this process holds it already (a library caller running twice): fine
        _LOCKS_HELD[key] += 1
        try:
            yield
        finally:
            _LOCKS_HELD[key] -= 1
        return
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, plain_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise InputError(
                f"{output}: another corrector run (pid {holder}) is writing this output; wait for it to end "
                "or choose another output"
            ) from None
        try:
            current = os.stat(lock)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            break
        os.close(fd)  # the holder removed the file as we opened it: lock the new one
    _LOCKS_HELD[key] = 1
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        del _LOCKS_HELD[key]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) off until the block ends, then raise it: a short commit is never cut in half.

    Only where Python handles SIGINT (the main thread, a handler installed); elsewhere the block runs as is.
    """
    handler = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(handler):
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
    if caught:
        handler(signal.SIGINT, None)  # the handler of the caller (default: raise KeyboardInterrupt)
