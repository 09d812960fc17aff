"""Word-level combination of an N-best list: a confusion-network vote that reproduces NIST ROVER.

The behaviour is that of NIST sctk's ``rover -m meth1`` with alpha 1 (frequency of occurrence only)
and no time information (no ``-T``), re-implemented after sclite's ``rover.c``, ``net_dp.c`` and
``word.c`` and checked against the ``rover`` program itself:

* The candidates are aligned one after another, in the order given, into a word transition
  network: a row of slots, each holding one entry (a word, or nothing: ROVER's ``@``) per
  candidate aligned so far. An empty candidate takes part as a single ``@``.
* Each alignment is a dynamic programme over the *entries* of the network against the words of
  the next candidate, with ``wwd_WORD_rover``'s costs: a word against the same word 0, a word
  against a different word 4, a word against ``@`` (or ``@`` against ``@``) 1, a word missing or
  inserted 3, an ``@`` missing or inserted 0.001. So a slot that already holds ``@`` takes a
  deletion almost for free and a new word for 1 rather than 4.
* Ties between moves prefer a substitution, then a deletion, then an insertion; ties between the
  entries of a slot prefer the earliest entry. Costs are summed in single precision, as sclite
  does, which decides some near-ties.
* An inserted word opens a new slot that lists that word first, then ``@`` for every candidate
  aligned before it; other slots list their entries in the order the candidates were aligned.
* Each slot votes: the most frequent entry wins, ties going to the entry listed first; a winning
  ``@`` writes nothing. The result can be a sentence that no single candidate holds.

ROVER also cuts each CTM conversation into chunks at pauses of over a second common to every input
and aligns the chunks separately; N-best text has no times, so here a trial is always one chunk (as
in ``rover`` when each trial's words are given contiguous, exactly representable times).

Words are compared after ``corrector.metrics.normalize``; the output is normalised text.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Sequence

from corrector.metrics import normalize
from corrector.nbest import NBestList

Entry = str | None  # a word, or None for ROVER's "@" (nothing)
Slot = list  # the entries of one slot (Entry), in ROVER's order (see the module docstring)


class _Single(dict):
    """``table[x]``: ``x`` rounded to single precision (the type of sclite's costs), remembered."""

    _format = struct.Struct("f")

    def __missing__(self, x: float) -> float:
        if len(self) > 1 << 16:
            self.clear()
        value = self[x] = self._format.unpack(self._format.pack(x))[0]
        return value


_f32 = _Single()
_NULL_INDEL = _f32[0.001]  # inserting or deleting "@"
_INDEL = 3.0  # inserting or deleting a word
_SUB = 4.0  # a word against a different word
_NULL_SUB = 1.0  # a word against "@", or "@" against "@"
_SUB_MOVE, _DEL_MOVE, _INS_MOVE = 0, 1, 2


def _indel(entry: Entry) -> float:
    """Cost of inserting or deleting ``entry``."""
    return _NULL_INDEL if entry is None else _INDEL


def _sub(a: Entry, b: Entry) -> float:
    """Cost of aligning network entry ``a`` with the new word ``b``."""
    if a is None or b is None:
        return _NULL_SUB
    return 0.0 if a == b else _SUB


def align_into(network: list[Slot], words: Sequence[Entry], n_aligned: int) -> list[Slot]:
    """The network with one more candidate (``words``; None for ``@``) aligned into it.

    ``n_aligned`` is the number of candidates already in the network. The dynamic programme runs
    over each slot's distinct entries (equal entries cost the same), in order of first appearance;
    for each column it keeps the cheapest entry of the slot (the first of equals) as the
    predecessor of the next slot. Row 0 is the network's start, before the first slot.
    """
    f32, m = _f32, len(words)
    ins = [_indel(w) for w in words]
    best = [0.0] * (m + 1)  # per column, the cost of the cheapest entry of the slot before
    for j in range(1, m + 1):
        best[j] = f32[best[j - 1] + ins[j - 1]]
    moves: list[list[list[int]]] = [[[_INS_MOVE] * (m + 1)]]  # per slot, per distinct entry, per column
    argbest: list[list[int]] = [[0] * (m + 1)]  # per slot, per column: which distinct entry is cheapest
    for slot in network:
        rows, slot_moves = [], []
        for e in dict.fromkeys(slot):
            dele = _indel(e)
            cost = f32[best[0] + dele]
            row, mv = [cost], [_DEL_MOVE]
            for j in range(1, m + 1):
                s = f32[best[j - 1] + _sub(e, words[j - 1])]
                d = f32[best[j] + dele]
                i = f32[cost + ins[j - 1]]
                if s <= d and s <= i:
                    cost = s
                    mv.append(_SUB_MOVE)
                elif d < i:
                    cost = d
                    mv.append(_DEL_MOVE)
                else:
                    cost = i
                    mv.append(_INS_MOVE)
                row.append(cost)
            rows.append(row)
            slot_moves.append(mv)
        best, arg = rows[0][:], [0] * (m + 1)
        for g in range(1, len(rows)):
            row = rows[g]
            for j in range(m + 1):
                if row[j] < best[j]:
                    best[j], arg[j] = row[j], g
        moves.append(slot_moves)
        argbest.append(arg)
    # trace back from the end of both, noting what each slot receives and what is inserted where
    n = len(network)
    received: list[Entry] = [None] * n  # the new candidate's entry in each existing slot
    inserted: list[list[Entry]] = [[] for _ in range(n + 1)]  # words inserted after slot i (0: the start)
    i, j = n, m
    g = argbest[i][j]
    while i or j:
        move = moves[i][g][j]
        if move == _INS_MOVE:
            inserted[i].append(words[j - 1])
            j -= 1
            continue
        if move == _SUB_MOVE:
            received[i - 1] = words[j - 1]
            j -= 1
        i -= 1  # a deletion leaves received[i] as None ("@")
        g = argbest[i][j]
    # an inserted word opens a slot listing it first, then "@" for the candidates before it
    out: list[Slot] = [[w] + [None] * n_aligned for w in reversed(inserted[0])]
    for k, slot in enumerate(network):
        out.append([*slot, received[k]])
        out.extend([w] + [None] * n_aligned for w in reversed(inserted[k + 1]))
    return out


def _entries(text: str) -> list[Entry]:
    """The words of ``text`` after normalisation; ``[None]`` (one ``@``) when there are none."""
    return normalize(text).split() or [None]


def word_network(texts: Sequence[str]) -> list[Slot]:
    """The word transition network of ``texts`` (normalised), aligned in the order given."""
    network: list[Slot] = []
    for k, text in enumerate(texts):
        words = _entries(text)
        network = [[w] for w in words] if k == 0 else align_into(network, words, k)
    return network


def vote(network: Sequence[Slot]) -> str:
    """Most frequent entry of each slot (ties: the entry listed first); empty entries dropped."""
    words = []
    for slot in network:
        counts = Counter(slot)
        top = max(counts.values())
        winner = next(w for w in slot if counts[w] == top)
        if winner is not None:
            words.append(winner)
    return " ".join(words)


def rover(nbest: NBestList) -> str:
    """Word-level vote over every candidate of the list (an empty candidate takes part as one ``@``)."""
    if not nbest.candidates:
        return ""
    return vote(word_network([c.text for c in nbest.candidates]))
