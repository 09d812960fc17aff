"""Brain-to-Text-like encoder logits simulated from text, for tests, benchmarks and the demo.

Each word becomes its CMUdict phonemes (a variant drawn at random, stress removed) followed by the
word boundary ``|``. Each unit lasts 1–3 frames with 0–2 blank frames after it, like a CTC encoder at
80 ms per frame. ``noise`` (0–1) sets the phoneme error rate of greedy decoding, roughly equal to it:
a phoneme is replaced with probability ``0.7·noise`` (mostly by a similar phoneme: same manner of
articulation or vowel class), dropped with ``0.15·noise`` and followed by an inserted one with
``0.15·noise``. A replaced or dropped phoneme keeps a weaker logit peak, so a search with a language
model can recover it. Trial ``i`` of seed ``s`` depends only on ``(s, i)`` and its sentence.

API::

    simulate_trials(sentences, noise=0.15, seed=0) -> list[np.ndarray]     # [T, 41] float32 each
    sentence_units(sentence, rng=None) -> list[str]
    phoneme_error_rate(trials, sentences, seed=0) -> float                  # greedy PER in percent
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corrector.decoding.lexicon import pronunciations
from corrector.decoding.units import BLANK, PHONEMES, SIL, UNITS
from corrector.errors import InputError

SIMILAR_GROUPS: tuple[tuple[str, ...], ...] = (
    ("P", "B", "T", "D", "K", "G"),
    ("F", "V", "TH", "DH", "S", "Z", "SH", "ZH", "HH"),
    ("CH", "JH", "SH", "ZH"),
    ("M", "N", "NG"),
    ("L", "R", "W", "Y", "ER"),
    ("IY", "IH", "EY", "EH", "AE"),
    ("AA", "AO", "AH", "AW", "AY", "OW", "OY"),
    ("UH", "UW", "OW", "AH", "ER"),
)
_INDEX = {u: i for i, u in enumerate(UNITS)}
_SIMILAR = {p: sorted({q for g in SIMILAR_GROUPS if p in g for q in g} - {p}) for p in PHONEMES}


def sentence_units(sentence: str, rng: np.random.Generator | None = None) -> list[str]:
    """Phonemes of each word then ``|``; with ``rng``, a random pronunciation variant per word."""
    units: list[str] = []
    for word in sentence.lower().split():
        prons = pronunciations(word)
        if not prons:
            raise InputError(f"cannot simulate {sentence!r}: CMUdict has no pronunciation of {word!r}")
        units += [*(prons[rng.integers(len(prons))] if rng is not None else prons[0]), SIL]
    return units


def _confusion(unit: str, rng: np.random.Generator) -> str:
    similar = _SIMILAR[unit]
    if similar and rng.random() < 0.85:
        return similar[rng.integers(len(similar))]
    return PHONEMES[rng.integers(len(PHONEMES))]


def simulate_logits(units: Sequence[str], noise: float, rng: np.random.Generator) -> np.ndarray:
    """``[T, 41]`` raw logits for a unit sequence (see the module docstring for the noise model)."""
    p_sub, p_del, p_ins = 0.7 * noise, 0.15 * noise, 0.15 * noise
    # Each segment: (emitted unit or None for a blank-only frame, weaker unit or None, frames).
    segments: list[tuple[str | None, str | None, int]] = []
    for u in units:
        r = rng.random()
        if u != SIL and r < p_sub:
            segments.append((_confusion(u, rng), u, int(rng.integers(1, 4))))
        elif r < p_sub + p_del:
            segments.append((None, u, 1))
        else:
            segments.append((u, None, int(rng.integers(1, 4))))
        if u != SIL and rng.random() < p_ins:
            segments.append((PHONEMES[rng.integers(len(PHONEMES))], None, 1))
        segments.append((None, None, int(rng.integers(0, 3))))
    frames: list[np.ndarray] = []
    last: str | None = None
    for emitted, weak, n in segments:
        if n and emitted is not None and emitted == last:
            frames.append(_frame(None, None, rng))  # CTC needs a blank between two equal units
        frames += [_frame(emitted, weak, rng) for _ in range(n)]
        if n:
            last = emitted
    return np.stack(frames).astype(np.float32)


def _frame(emitted: str | None, weak: str | None, rng: np.random.Generator) -> np.ndarray:
    x = rng.normal(0.0, 1.0, len(UNITS))
    x[_INDEX[emitted if emitted is not None else BLANK]] += 8.0 + rng.normal(0.0, 0.5)
    if weak is not None:
        x[_INDEX[weak]] += 8.0 - rng.uniform(0.5, 3.0)
    return x


def simulate_trials(sentences: Sequence[str], noise: float = 0.15, seed: int = 0) -> list[np.ndarray]:
    """Seeded logits, one ``[T, 41]`` float32 array per sentence."""
    if not 0 <= noise <= 1:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    out = []
    for i, s in enumerate(sentences):
        rng = np.random.default_rng([seed, i])
        out.append(simulate_logits(sentence_units(s, rng), noise, rng))
    return out


def phoneme_error_rate(trials: Sequence[np.ndarray], sentences: Sequence[str], seed: int = 0) -> float:
    """Greedy-decoding phoneme error rate (percent, word boundaries excluded) of simulated ``trials``.

    The reference uses the pronunciation variants the simulator drew for ``seed``.
    """
    from corrector.decoding.decoder import greedy_units
    from corrector.metrics import align, total

    counts = []
    for i, (logits, s) in enumerate(zip(trials, sentences)):
        ref = [u for u in sentence_units(s, np.random.default_rng([seed, i])) if u != SIL]
        hyp = [UNITS[k] for k in greedy_units(logits) if UNITS[k] != SIL]
        counts.append(align(" ".join(ref), " ".join(hyp), normalized=True))
    return total(counts).rate
