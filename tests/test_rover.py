"""corrector.evaluation.rover: word-level votes with known answers, and agreement with NIST sctk's ``rover``."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from corrector.evaluation.rover import rover, vote, word_network
from corrector.nbest import NBestList


def _rover(*texts: str) -> str:
    return rover(NBestList.from_texts("t", texts))


def test_vote_can_build_a_sentence_no_candidate_holds():
    texts = ["the dog sat", "a cat sat", "the cat ran"]
    assert _rover(*texts) == "the cat sat"
    assert "the cat sat" not in texts


def test_insertions_and_deletions_are_voted_out():
    assert _rover("the cat sat", "the big cat sat", "the cat sat down") == "the cat sat"
    assert _rover("the cat sat", "the sat", "cat sat", "the cat sat") == "the cat sat"


def test_an_inserted_word_opens_a_slot_listing_it_first():
    assert word_network(["the cat sat", "the big cat sat", "the cat sat down"]) == [
        ["the", "the", "the"],
        ["big", None, None],
        ["cat", "cat", "cat"],
        ["sat", "sat", "sat"],
        ["down", None, None],
    ]


def test_a_word_against_nothing_costs_less_than_against_another_word():
    # "c" joins the slot where "a b" has "b" and "a" has nothing (cost 1) instead of opening its own
    # slot (deletion 3): three entries tie, and the one listed first wins
    assert word_network(["a", "a b", "a c"]) == [["a", "a", "a"], ["b", None, "c"]]
    assert _rover("a", "a b", "a c") == "a b"


def test_ties_go_to_the_entry_listed_first():
    assert _rover("a b", "a c") == "a b"
    assert _rover("a c", "a b") == "a c"
    # a word and nothing tie: the word is listed first whether it was inserted or left out
    assert _rover("a", "a b") == "a b"
    assert _rover("a b", "a") == "a b"


def test_empty_candidates_take_part_as_nothing():
    assert _rover("", "", "a") == ""
    assert _rover("a", "", "a") == "a"
    assert _rover("", "") == ""
    # equal costs prefer a substitution: "world" takes the slot of the empty candidate's "@" (listed
    # first there, so nothing wins) and "hello" opens a slot of its own (listed first, so it wins)
    assert word_network(["", "hello world"]) == [["hello", None], [None, "world"]]
    assert _rover("", "hello world") == "hello"
    assert _rover("hello world", "") == "hello world"


def test_no_candidates():
    assert rover(NBestList("t")) == ""
    assert word_network([]) == []
    assert vote([]) == ""


def test_words_are_normalised():
    assert _rover("The Cat.", "the cat", "THE DOG!") == "the cat"
    assert _rover("Hello,  World") == "hello world"


def test_costs_are_summed_in_single_precision():
    # sctk's rover answers "" here; with double-precision sums a near-tie goes the other way ("c")
    assert _rover("a c", "", "", "d", "c") == ""


# -- agreement with the real thing ------------------------------------------------------------------------------

_SCTK = next((p for p in (Path("/usr/lib/sctk/bin/rover"), shutil.which("rover")) if p and Path(p).is_file()), None)


def _sctk_rover(trials: list[list[str]], folder: Path) -> list[str]:
    """sctk ``rover -m meth1`` over ``trials`` (each the same number of candidates), one CTM per rank.

    Each trial is one conversation; its words get contiguous one-second times (exact, so rover finds
    no pause to cut at) and an empty candidate is one ``@``. A two-word sentinel trial goes last:
    rover drops a final conversation whose inputs are all one word long.
    """
    trials = [*trials, ["end mark"] * len(trials[0])]
    args = []
    for k in range(len(trials[0])):
        path = folder / f"hyp{k}.ctm"
        lines = []
        for i, trial in enumerate(trials):
            for j, word in enumerate(trial[k].split() or ["@"]):
                lines.append(f"T{i:05d} 1 {j}.00 1.00 {word} 1.0\n")
        path.write_text("".join(lines))
        args += ["-h", str(path), "ctm"]
    out = folder / "rover.ctm"
    subprocess.run([str(_SCTK), *args, "-o", str(out), "-m", "meth1", "-f", "0"], check=True, capture_output=True)
    words = defaultdict(list)
    for line in out.read_text().splitlines():
        conv, _chan, _t1, _dur, word, *_ = line.split()
        if word != "@":
            words[int(conv[1:])].append(word)  # file order is the network's order
    return [" ".join(words[i]) for i in range(len(trials) - 1)]


@pytest.mark.skipif(_SCTK is None, reason="NIST sctk's rover is not installed (/usr/lib/sctk/bin/rover or on PATH)")
def test_agrees_with_sctk_rover(tmp_path):
    rng = random.Random(7)
    vocab = ["a", "b", "c", "d", "e"]
    by_size: dict[int, list[list[str]]] = defaultdict(list)
    for trial in (
        ["the dog sat", "a cat sat", "the cat ran"],
        ["the cat sat", "the big cat sat", "the cat sat down"],
        ["a", "a b", "a c"],
        ["", "", "a"],
        ["a c", "", "", "d", "c"],
        ["a b", "a"],
        ["", "hello world"],
    ):
        by_size[len(trial)].append(trial)
    for n in range(2, 7):
        for _ in range(60):
            by_size[n].append([" ".join(rng.choices(vocab, k=rng.randint(0, 6))) for _ in range(n)])
    for n, trials in by_size.items():
        folder = tmp_path / str(n)
        folder.mkdir()
        expected = _sctk_rover(trials, folder)
        got = [rover(NBestList.from_texts(i, t)) for i, t in enumerate(trials)]
        assert [(t, g) for t, g, e in zip(trials, got, expected) if g != e] == []
