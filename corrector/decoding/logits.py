"""Loading per-trial logits and transcripts, with every check done before decoding starts.

Logits (one ``[T, C]`` float array of raw encoder outputs per trial):

- the seed's NPZ: keys ``arr_0 … arr_{n-1}`` (``np.savez(*trials)``);
- an NPZ with one padded ``[N, T, C]`` array (key ``logits`` or ``emissions``) and a lengths array
  (``lengths`` or ``logit_lengths``); or a ``.npy`` ``[N, T, C]`` array (all frames used, or lengths
  from ``<stem>.lengths.npy`` beside it);
- a ``.pt`` file holding a list of ``[T, C]`` tensors (``torch.load(weights_only=True)``).

Transcripts: a pandas pickle (list, Series, or a DataFrame column named ``transcription``,
``sentence``, ``text``, ``transcript`` or ``ground_truth``), a JSON list of strings, or plain text with
one transcript per line. **A pickle can run arbitrary code when loaded**: ``load_transcripts`` loads one
only from a path the user names, and must never be pointed at a file from an untrusted source.

Trial ids are the positions in the logits file (``"0"``, ``"1"``, …), kept through selection,
sharding and merging.

API::

    load_logits(path) -> list[np.ndarray]
    validate_logits(trials, num_classes, path)        # InputError naming the file and trial
    load_transcripts(path) -> list[str]
    save_seed_npz(path, trials) -> Path
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from corrector.errors import InputError, json_problem
from corrector.files import atomic_write

_PADDED_KEYS = ("logits", "emissions")
_LENGTH_KEYS = ("lengths", "logit_lengths")
_TEXT_COLUMNS = ("transcription", "sentence", "text", "transcript", "transcripts", "ground_truth")


def save_seed_npz(path: str | Path, trials: Sequence[np.ndarray]) -> Path:
    """Write trials as the seed does (``np.savez(*trials)``: keys ``arr_0 … arr_{n-1}``), atomically."""
    path = Path(path)
    with atomic_write(path, "wb") as f:
        np.savez(f, *[np.asarray(t, dtype=np.float32) for t in trials])
    return path


def _unpad(path: Path, padded: np.ndarray, lengths: np.ndarray | None) -> list[np.ndarray]:
    if padded.ndim != 3:
        raise InputError(f"{path}: padded logits must be [N, T, C], found shape {padded.shape}")
    if lengths is None:
        return list(padded)
    lengths = np.asarray(lengths).reshape(-1)
    if len(lengths) != len(padded):
        raise InputError(f"{path}: {len(padded)} padded trials but {len(lengths)} lengths")
    for i, n in enumerate(lengths):
        if not 0 <= n <= padded.shape[1]:
            raise InputError(f"{path}: trial {i} has length {n}, outside 0..{padded.shape[1]} frames")
    return [padded[i, : int(n)] for i, n in enumerate(lengths)]


def _load_npz(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        if keys and all(k.startswith("arr_") for k in keys):
            try:
                order = sorted(keys, key=lambda k: int(k[4:]))
            except ValueError:
                raise InputError(f"{path}: unexpected NPZ key names {keys[:3]}") from None
            if [int(k[4:]) for k in order] != list(range(len(order))):
                raise InputError(f"{path}: NPZ keys arr_0 … arr_{len(order) - 1} have gaps")
            return [z[k] for k in order]
        key = next((k for k in _PADDED_KEYS if k in keys), None)
        if key is None:
            raise InputError(
                f"{path}: NPZ has keys {keys[:5]}; expected arr_0 … (one trial each) or a padded "
                f"'{_PADDED_KEYS[0]}' array with '{_LENGTH_KEYS[0]}'"
            )
        lkey = next((k for k in _LENGTH_KEYS if k in keys), None)
        return _unpad(path, z[key], z[lkey] if lkey else None)


def _load_pt(path: Path) -> list[np.ndarray]:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise InputError(f"{path}: cannot read as a torch file ({str(e).splitlines()[0]})") from None
    if isinstance(obj, dict):
        key = next((k for k in _PADDED_KEYS if k in obj), None)
        if key is None:
            raise InputError(f"{path}: dict without a '{_PADDED_KEYS[0]}' entry (keys {list(obj)[:5]})")
        lkey = next((k for k in _LENGTH_KEYS if k in obj), None)
        lengths = obj[lkey].numpy() if lkey else None
        return _unpad(path, obj[key].float().numpy(), lengths)
    if isinstance(obj, torch.Tensor):
        return _unpad(path, obj.float().numpy(), None) if obj.ndim == 3 else [obj.float().numpy()]
    if isinstance(obj, (list, tuple)):
        out = []
        for i, t in enumerate(obj):
            if not isinstance(t, torch.Tensor):
                raise InputError(f"{path}: trial {i} is a {type(t).__name__}, expected a tensor")
            out.append(t.float().numpy())
        return out
    raise InputError(f"{path}: expected a list of [T, C] tensors, found {type(obj).__name__}")


def load_logits(path: str | Path) -> list[np.ndarray]:
    """The trials of one logits file, as arrays in file order (not yet validated; see ``validate_logits``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: logits file not found")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path)
    if suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
        side = path.with_name(f"{path.stem}.lengths.npy")
        return _unpad(path, arr, np.load(side, allow_pickle=False) if side.is_file() else None)
    if suffix in (".pt", ".pth"):
        return _load_pt(path)
    raise InputError(f"{path}: unknown logits format {suffix!r} (use .npz, .npy or .pt)")


def validate_logits(trials: Sequence[np.ndarray], num_classes: int, path: str | Path) -> list[np.ndarray]:
    """float32 ``[T, C]`` arrays, or an InputError naming the file and the first bad trial."""
    out = []
    for i, t in enumerate(trials):
        a = np.asarray(t)
        if a.ndim != 2:
            raise InputError(f"{path}: trial {i}: logits must be 2-D [T, C], found shape {a.shape}")
        if a.shape[0] == 0:
            raise InputError(f"{path}: trial {i} has zero frames")
        if a.shape[1] != num_classes:
            raise InputError(
                f"{path}: trial {i} has {a.shape[1]} classes but the tokens file has {num_classes} "
                "(use the tokens file the encoder was trained with)"
            )
        if not np.issubdtype(a.dtype, np.floating):
            raise InputError(f"{path}: trial {i}: logits must be floating point, found {a.dtype}")
        if not np.isfinite(a).all():
            frame = int(np.argwhere(~np.isfinite(a))[0][0])
            raise InputError(f"{path}: trial {i} has NaN or Inf logits (first at frame {frame})")
        out.append(np.ascontiguousarray(a, dtype=np.float32))
    return out


def _texts(path: Path, obj) -> list[str]:
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        col = next((c for c in _TEXT_COLUMNS if c in obj.columns), None)
        if col is None and obj.shape[1] == 1:
            col = obj.columns[0]
        if col is None:
            raise InputError(f"{path}: DataFrame has no transcript column (looked for {', '.join(_TEXT_COLUMNS)})")
        obj = obj[col]
    if isinstance(obj, (pd.Series, np.ndarray)):
        obj = obj.tolist()
    if not isinstance(obj, (list, tuple)):
        raise InputError(f"{path}: expected a list of transcripts, found {type(obj).__name__}")
    out = []
    for i, t in enumerate(obj):
        if not isinstance(t, str):
            raise InputError(f"{path}: transcript {i} is a {type(t).__name__}, expected a string")
        out.append(t.strip())
    return out


def load_transcripts(path: str | Path) -> list[str]:
    """Ground-truth sentences in trial order (see the module docstring for formats; pickles run code)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: transcripts file not found")
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle"):
        import pandas as pd

        try:
            return _texts(path, pd.read_pickle(path))
        except InputError:
            raise
        except Exception as e:
            raise InputError(f"{path}: cannot read as a pandas pickle ({type(e).__name__}: {e})") from None
    if suffix == ".json":
        try:
            return _texts(path, json.loads(path.read_text(encoding="utf-8-sig")))
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{e.lineno}: malformed JSON ({json_problem(e)})") from None
    return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
