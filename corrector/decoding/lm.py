"""Word n-gram language models: load KenLM models (ARPA or binary), build small ARPA models.

``build_arpa`` estimates an interpolated modified Kneser–Ney model (Chen & Goodman; the estimate
KenLM's ``lmplz`` makes, without pruning) from a text file with one sentence per line, for demos
and tests: PyPI's ``kenlm`` reads models but cannot build them.

API::

    build_arpa(text_path, arpa_path, order=4) -> Path
    check_lm_file(path) -> Path                 # exists and looks like ARPA or KenLM binary
    load_decoder_lm(path, word_dict)            # flashlight KenLM for the decoder
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from corrector.errors import InputError
from corrector.files import atomic_write

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)


def check_lm_file(path: str | Path) -> Path:
    """Fail early, with the file named, when ``path`` is missing or neither ARPA nor KenLM binary."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: language model file not found")
    with open(path, "rb") as f:
        head = f.read(4096)
    if b"mmap lm" not in head[:64] and b"\\data\\" not in head:
        raise InputError(f"{path}: not a KenLM model (expected an ARPA file with \\data\\ or a KenLM binary)")
    return path


def load_decoder_lm(path: str | Path, word_dict):
    """flashlight's ``KenLM`` over ``word_dict`` (a flashlight ``Dictionary``), with a clear error on failure."""
    from flashlight.lib.text.decoder.kenlm import KenLM

    path = check_lm_file(path)
    try:
        return KenLM(str(path), word_dict)
    except Exception as e:  # the C++ side raises plain RuntimeErrors with KenLM's message
        raise InputError(f"{path}: KenLM could not load it ({str(e).strip().splitlines()[0]})") from None


def _discounts(adjusted: Counter) -> tuple[float, float, float]:
    """Modified-KN discounts D1, D2, D3+ from the counts-of-counts of adjusted counts (fixed values if degenerate)."""
    n = [sum(1 for c in adjusted.values() if c == k) for k in range(1, 5)]
    if min(n) == 0:
        return _FALLBACK_DISCOUNTS
    y = n[0] / (n[0] + 2 * n[1])
    d = (1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2])
    if not all(0 < dk < k + 1 for k, dk in enumerate(d)):
        return _FALLBACK_DISCOUNTS
    return d


def _sentences(text_path: Path) -> Iterable[list[str]]:
    with open(text_path, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if words:
                yield words


def build_arpa(text_path: str | Path, arpa_path: str | Path, order: int = 4) -> Path:
    """Write an interpolated modified Kneser–Ney ARPA model of ``order`` (2–6) trained on ``text_path``.

    Words are taken as they are (no case folding). The vocabulary is the training words plus
    ``</s>`` and ``<unk>``; ``<s>`` is a context only (log-probability -99, as ``lmplz`` writes).
    """
    text_path, arpa_path = Path(text_path), Path(arpa_path)
    if not 2 <= order <= 6:
        raise ValueError(f"n-gram order must be 2..6, got {order}")
    if not text_path.is_file():
        raise InputError(f"{text_path}: LM training text not found")
    # Raw counts of the highest order, and all lower-order n-grams seen.
    raw: list[Counter] = [Counter() for _ in range(order + 1)]
    for words in _sentences(text_path):
        toks = [BOS, *words, EOS]
        for n in range(1, order + 1):
            for i in range(len(toks) - n + 1):
                raw[n][tuple(toks[i : i + n])] += 1
    if not raw[1]:
        raise InputError(f"{text_path}: no words to train a language model on")
    # Adjusted counts: raw for the highest order and for n-grams starting with <s>; else the number of
    # distinct words seen before the n-gram (continuation count).
    adjusted: list[Counter] = [Counter() for _ in range(order + 1)]
    adjusted[order] = Counter(raw[order])
    for n in range(order, 1, -1):
        for gram in raw[n]:
            adjusted[n - 1][gram[1:]] += 1
    for n in range(1, order):
        for gram, c in raw[n].items():
            if gram[0] == BOS:
                adjusted[n][gram] = c
    del adjusted[1][(BOS,)]
    vocab = sorted({g[0] for g in raw[1]} - {BOS} | {EOS, UNK})

    prob: list[dict[tuple[str, ...], float]] = [{} for _ in range(order + 1)]
    backoff: list[dict[tuple[str, ...], float]] = [{} for _ in range(order + 1)]
    for n in range(1, order + 1):
        d = _discounts(adjusted[n])
        by_context: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
        for gram, c in adjusted[n].items():
            by_context[gram[:-1]].append((gram[-1], c))
        for context, items in by_context.items():
            total = sum(c for _, c in items)
            kinds = Counter(min(c, 3) for _, c in items)
            gamma = (d[0] * kinds[1] + d[1] * kinds[2] + d[2] * kinds[3]) / total
            for word, c in items:
                lower = 1.0 / len(vocab) if n == 1 else _lookup(prob, backoff, context[1:], word)
                prob[n][(*context, word)] = (c - d[min(c, 3) - 1]) / total + gamma * lower
            if n == 1:
                # Unseen vocabulary words (only <unk>) get the uniform share.
                for word in vocab:
                    prob[1].setdefault((word,), gamma / len(vocab))
            else:
                backoff[n - 1][context] = gamma
    prob[1][(BOS,)] = 0.0

    with atomic_write(arpa_path) as f:
        f.write("\n\\data\\\n")
        for n in range(1, order + 1):
            f.write(f"ngram {n}={len(prob[n])}\n")
        for n in range(1, order + 1):
            f.write(f"\n\\{n}-grams:\n")
            for gram in sorted(prob[n]):
                p = prob[n][gram]
                lp = -99.0 if p <= 0 else math.log10(p)
                line = f"{lp:.7f}\t{' '.join(gram)}"
                if n < order and gram in backoff[n]:
                    line += f"\t{math.log10(backoff[n][gram]):.7f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")
    return arpa_path


def _lookup(prob, backoff, context: tuple[str, ...], word: str) -> float:
    """p(word | context) of the orders already estimated, backing off as an ARPA reader would."""
    weight = 1.0
    while True:
        p = prob[len(context) + 1].get((*context, word))
        if p is not None:
            return weight * p
        weight *= backoff[len(context)].get(context, 1.0) if context else 1.0
        context = context[1:]
