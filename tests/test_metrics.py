"""Metrics: normalisation, alignment (checked against NIST sclite), baselines and statistics."""

from __future__ import annotations

import math
import random
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corrector.data.formats import read_nbest
from corrector.metrics import (
    ErrorCounts,
    align,
    baseline_wers,
    bootstrap_ci,
    cer,
    compositional_oracle_counts,
    harmful_edit_rate,
    majority_vote,
    normalize,
    oracle_choice,
    paired_bootstrap,
    per_utterance,
    recoverable_gap,
    relative_reduction,
    total,
    wer,
)
from corrector.nbest import NBestList


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, World!", "hello world"),
        ("I don't know.", "i don't know"),
        ("It\u2019s fine", "it's fine"),
        ("a well-known e-mail", "a well known e mail"),
        ("wait\u2014what?", "wait what"),
        ("  Multiple   spaces\tand\nnewlines ", "multiple spaces and newlines"),
        ('Mr. Smith\'s 3 cats; (yes) "ok"', "mr smith's 3 cats yes ok"),
        ("snake_case", "snake case"),
        ("\uff21\uff22\uff23", "abc"),  # NFKC: full-width letters
        ("", ""),
        (None, ""),
        ("?!.", ""),
    ],
)
def test_normalize(text: str | None, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "ref, hyp, sdi",
    [
        ("the cat sat on the mat", "the cat sat mat", (0, 2, 0)),
        ("hello world", "hello there big world", (0, 0, 2)),
        ("a b c", "a x c", (1, 0, 0)),
        ("a b c d", "", (0, 4, 0)),
        ("", "a b", (0, 0, 2)),
        ("a b", "b c", (0, 1, 1)),  # 3+3 beats two substitutions (4+4)
        ("Hello, world.", "hello world", (0, 0, 0)),
        # equal-cost paths: sclite's choice (substitution, then insertion, then deletion)
        ("a a d e e c", "e e b c d b a e", (0, 3, 5)),
        ("b b a b a a c c a", "e c b e e c b a c", (5, 1, 1)),
    ],
)
def test_align(ref: str, hyp: str, sdi: tuple[int, int, int]) -> None:
    c = align(ref, hyp)
    assert (c.sub, c.dele, c.ins) == sdi
    assert c.ref_len == len(normalize(ref).split())


def test_error_counts() -> None:
    a, b = ErrorCounts(1, 2, 3, 10), ErrorCounts(0, 0, 1, 5)
    assert a + b == ErrorCounts(1, 2, 4, 15)
    assert (a.errors, a.hits, a.rate) == (6, 7, 60.0)
    assert ErrorCounts(0, 0, 2, 0).rate == 200.0
    assert ErrorCounts().rate == 0.0
    assert total([a, b, b]) == ErrorCounts(1, 2, 5, 20)


def test_wer_cer() -> None:
    assert wer(["a b c", "d e"], ["a b", "d e f"]) == pytest.approx(40.0)
    assert wer(["A, b."], ["a b"]) == 0.0
    assert cer(["abc"], ["abd"]) == pytest.approx(100 / 3)
    assert cer(["ab cd"], ["abcd"]) == pytest.approx(20.0)  # the space counts
    assert [c.errors for c in per_utterance(["a", "b"], ["a", "c"])] == [0, 1]
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        wer(["a", "b"], ["a"])


def test_majority_vote_ties_go_to_the_earlier_candidate() -> None:
    assert majority_vote(NBestList.from_texts("t", ["b", "a", "a", "b"])) == "b"
    assert majority_vote(NBestList.from_texts("t", ["x", "a", "A.", "b"])) == "a"
    assert majority_vote(NBestList.from_texts("t", ["x", "Hi.", "y", "hi"])) == "Hi."
    assert majority_vote(NBestList("t")) == ""


def test_oracle_and_compositional_bound() -> None:
    nb = NBestList.from_texts("t", ["a b c d", "a x", "a b c", "x b"], "a b")
    assert oracle_choice(nb) == "a x"  # one error each for the last three: the earliest wins
    nb = NBestList.from_texts("t", ["a x", "a b", "a b c"], "a b")
    assert oracle_choice(nb) == "a b"
    assert oracle_choice(NBestList("t", (), "a")) == ""
    nb = NBestList.from_texts("t", ["a b", "b d"], "a b c a")
    assert compositional_oracle_counts(nb) == ErrorCounts(0, 2, 0, 4)  # one "a" and "c" are in no candidate


def test_baseline_wers(records: list[NBestList]) -> None:
    # t1, t2 right at candidate 1; t3 has no ground truth (skipped); t4 has no candidates (3 deletions of 10 words)
    assert baseline_wers(records) == {
        "candidate_1": 30.0,
        "majority_vote": 30.0,
        "oracle": 30.0,
        "compositional_bound": 30.0,
    }
    recs = [NBestList.from_texts(0, ["a b x", "a b", "a b", "a c"], "a b"), NBestList.from_texts(1, ["c"], "c d")]
    w = baseline_wers(recs)
    assert w == pytest.approx(
        {"candidate_1": 50.0, "majority_vote": 25.0, "oracle": 25.0, "compositional_bound": 25.0}
    )


def test_comparisons() -> None:
    assert relative_reduction(10.0, 8.0) == pytest.approx(20.0)
    assert relative_reduction(0.0, 1.0) == 0.0
    assert recoverable_gap(10.0, 8.0, 4.0) == pytest.approx(1 / 3)
    assert math.isnan(recoverable_gap(5.0, 5.0, 5.0))
    base = [ErrorCounts(0, 1, 0, 3), ErrorCounts(0, 0, 0, 3), ErrorCounts(2, 0, 0, 3), ErrorCounts(0, 0, 0, 3)]
    system = [ErrorCounts(0, 0, 0, 3), ErrorCounts(1, 0, 0, 3), ErrorCounts(2, 0, 1, 3), ErrorCounts(0, 0, 0, 3)]
    assert harmful_edit_rate(base, system) == 50.0
    assert harmful_edit_rate([], []) == 0.0


def _random_counts(n: int, p: float, seed: int) -> list[ErrorCounts]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(3, 12)
        out.append(ErrorCounts(sum(rng.random() < p for _ in range(length)), 0, 0, length))
    return out


def test_bootstrap_ci() -> None:
    counts = _random_counts(200, 0.1, 0)
    point = total(counts).rate
    lo, hi = bootstrap_ci(counts, n_boot=500)
    assert lo < point < hi
    assert hi - lo < 10
    assert bootstrap_ci(counts, n_boot=500) == (lo, hi)  # seeded
    assert all(math.isnan(x) for x in bootstrap_ci([]))


def test_paired_bootstrap() -> None:
    a = _random_counts(100, 0.2, 1)
    assert paired_bootstrap(a, a) == 1.0
    better = [ErrorCounts(max(c.sub - 1, 0), 0, 0, c.ref_len) for c in a]
    assert paired_bootstrap(a, better, n_boot=500) < 0.01
    noisy = _random_counts(100, 0.2, 2)
    assert paired_bootstrap(a, noisy, n_boot=500) > 0.05  # same error rate, different draws
    assert math.isnan(paired_bootstrap([], []))
    with pytest.raises(ValueError, match="same utterances"):
        paired_bootstrap(a, a[:-1])


words = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=8)


@settings(max_examples=200, deadline=None)
@given(ref=words, hyp=words)
def test_alignment_properties(ref: list[str], hyp: list[str]) -> None:
    r, h = " ".join(ref), " ".join(hyp)
    c = align(r, h)
    assert c.errors >= abs(len(ref) - len(hyp))
    assert c.errors <= max(len(ref), len(hyp)) + min(len(ref), len(hyp))
    assert c.hits + c.sub + c.dele == len(ref)
    assert c.hits + c.sub + c.ins == len(hyp)
    assert align(r, r).errors == 0
    swapped = align(h, r)
    assert 4 * swapped.sub + 3 * (swapped.dele + swapped.ins) == 4 * c.sub + 3 * (c.dele + c.ins)


# --- agreement with NIST sclite -------------------------------------------------------------------


def _sclite_counts(sclite: str, refs: list[str], hyps: list[str], folder: Path) -> list[tuple[int, int, int]]:
    """Per-utterance (sub, del, ins) from ``sclite -o pra`` on trn files, in input order."""
    ids = [f"spk_{i:06d}" for i in range(len(refs))]
    (folder / "ref.trn").write_text("".join(f"{t} ({u})\n" for t, u in zip(refs, ids)))
    (folder / "hyp.trn").write_text("".join(f"{t} ({u})\n" for t, u in zip(hyps, ids)))
    cmd = [sclite, "-r", "ref.trn", "trn", "-h", "hyp.trn", "trn", "-i", "rm", "-o", "pra", "stdout"]
    out = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=True, timeout=120).stdout
    found = dict(
        zip(
            re.findall(r"^id: \((\S+)\)$", out, re.M),
            re.findall(r"^Scores: \(#C #S #D #I\) \d+ (\d+) (\d+) (\d+)$", out, re.M),
        )
    )
    assert len(found) == len(ids), "sclite did not report every utterance"
    return [tuple(int(x) for x in found[u]) for u in ids]


def _compare(sclite: str, refs: list[str], hyps: list[str], folder: Path) -> tuple[int, int, int]:
    theirs = _sclite_counts(sclite, refs, hyps, folder)
    ours = [(c.sub, c.dele, c.ins) for c in per_utterance(refs, hyps)]
    diff = [(r, h, o, t) for r, h, o, t in zip(refs, hyps, ours, theirs) if o != t]
    assert not diff, f"{len(diff)} utterances differ from sclite, e.g. (ref, hyp, ours, sclite) = {diff[0]}"
    return tuple(sum(x) for x in zip(*theirs))


def test_sclite_agrees_on_generated_set(sclite_bin: str, tmp_path: Path) -> None:
    rng = random.Random(0)
    vocab = ["a", "b", "c", "d", "e"]  # a small vocabulary makes many equal-cost alignments

    def sent(lo: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(lo, 9)))

    refs = [sent(1) for _ in range(2000)]
    hyps = [sent(0) for _ in range(2000)]
    totals = _compare(sclite_bin, refs, hyps, tmp_path)
    ours = total(per_utterance(refs, hyps))
    assert totals == (ours.sub, ours.dele, ours.ins)


def test_sclite_agrees_on_real_nbest(sclite_bin: str, bi_file: Path, tmp_path: Path) -> None:
    recs = read_nbest(bi_file)
    refs = [normalize(r.ground_truth) for r in recs for _ in r.candidates]
    hyps = [normalize(c.text) for r in recs for c in r.candidates]
    assert len(refs) == 8800
    sub, dele, ins = _compare(sclite_bin, refs, hyps, tmp_path)
    first = total(per_utterance(refs[::10], hyps[::10]))
    assert round(first.rate, 2) == 10.55  # candidate 1, as the shared README says
    assert sub + dele + ins == total(per_utterance(refs, hyps)).errors
