"""Pooling N-best lists across decoders: joins by id and by position, every mismatch is a one-line error."""

from __future__ import annotations

import json

import pytest

from corrector.cli import main
from corrector.data.formats import read_nbest, write_nbest
from corrector.data.pooling import load_inputs, pool, pool_sources
from corrector.data.prompts import PromptConfig, render
from corrector.errors import InputError
from corrector.metrics import majority_vote
from corrector.nbest import NBestList, input_name

A = [
    NBestList.from_texts("s1", ["call my son", "call my sun"], "call my son"),
    NBestList.from_texts("s2", ["the cat sat", "a cat sat"], "the cat sat"),
]
B = [
    NBestList.from_texts("s1", ["call my sun", "Call my sun."], "call my son"),
    NBestList.from_texts("s2", ["the cat sat", "the cat sat"], "the cat sat"),
]


def test_pool_joins_by_trial_id_and_keeps_sources():
    pooled = pool([("a", A), ("b", list(reversed(B)))])  # ids, not positions, decide
    assert [r.trial_id for r in pooled] == ["s1", "s2"]
    assert pooled[0].texts == ["call my son", "call my sun", "call my sun", "Call my sun."]
    assert [c.source for c in pooled[0].candidates] == ["a", "a", "b", "b"]
    assert pooled[0].ground_truth == "call my son"


def test_majority_vote_counts_across_the_whole_pool():
    pooled = pool([("a", A), ("b", B)])
    assert majority_vote(A[0]) == "call my son"  # alone, a tie goes to the first candidate
    assert majority_vote(pooled[0]) == "call my sun"  # pooled: 3 votes (case and punctuation normalised) to 1


def test_original_sources_are_kept_after_the_input_name():
    tagged = [NBestList.from_texts("s1", ["x", "y"], "x", sources=["seed0", "seed1"])]
    pooled = pool([("bi", tagged), ("uni", [NBestList.from_texts("s1", ["x"], "x")])])
    assert [c.source for c in pooled[0].candidates] == ["bi:seed0", "bi:seed1", "uni"]
    assert [input_name(c) for c in pooled[0].candidates] == ["bi", "bi", "uni"]


def test_files_without_ids_join_by_position(tmp_path):
    """The chat JSONL has no trial ids: row i of every file is trial i."""
    paths = []
    for name, recs in (("bi", A), ("uni", B)):
        paths.append(write_nbest([r.with_partition(None) for r in recs], tmp_path / f"{name}.jsonl", fmt="chat"))
    for p in paths:  # drop the ids the writer put in, as the real files have none
        rows = [json.loads(line) for line in p.read_text().splitlines()]
        p.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "trial_id"}) + "\n" for r in rows))
    assert [r.trial_id for r in read_nbest(paths[0])] == ["0", "1"]
    pooled = pool_sources(paths)
    assert [len(r) for r in pooled] == [4, 4] and pooled[1].texts[2:] == ["the cat sat", "the cat sat"]
    assert {input_name(c) for c in pooled[0].candidates} == {"bi", "uni"}


@pytest.mark.parametrize(
    "inputs, message",
    [
        ([("a", A), ("b", B[:1])], "a has 2 trials but b has 1"),
        (
            [("a", A), ("b", [B[0], NBestList.from_texts("s9", ["x"], "the cat sat")])],
            "trial s2 \\(partition None\\) of a is missing from b",
        ),
        (
            [("a", A), ("b", [B[0], NBestList.from_texts("s2", ["x"], "a dog sat")])],
            "trial s2: ground truth differs between a .* and b",
        ),
        ([("a", A), ("a", B)], "a is given twice; pooling a list with itself doubles every vote"),
        ([("a", A)], "at least two inputs"),
        (
            [("a", [A[0].with_partition("train")]), ("b", [B[0].with_partition("test")])],
            "trial s1 \\(partition train\\) of a is missing from b \\(it is in partition test there\\)",
        ),
    ],
)
def test_mismatched_inputs_are_errors_naming_trial_and_inputs(inputs, message):
    with pytest.raises(InputError, match=message):
        pool(inputs)


def test_a_file_pooled_with_itself_is_refused_even_under_another_spelling(tmp_path):
    path = write_nbest(A, tmp_path / "a.jsonl")
    with pytest.raises(InputError, match="given twice"):
        pool_sources([path, tmp_path / "." / "a.jsonl"])


def test_an_empty_candidate_never_wins_the_vote():
    pooled = pool(
        [("a", [NBestList.from_texts("s", ["", ""], "hi")]), ("b", [NBestList.from_texts("s", ["hi"], "hi")])]
    )
    assert majority_vote(pooled[0]) == "hi"
    assert majority_vote(NBestList.from_texts("e", ["", "  "], "x")) == ""


def test_templates_show_pooled_votes_and_decoder_agreement():
    pooled = pool([("a", A), ("b", B)])[0]
    cfg = PromptConfig("seed", dedup=True, counts=True, sources=True)
    assert render(pooled, cfg).formatted_input == (
        "Given the following 2 candidate transcriptions from a brain-to-text decoder, generate the most accurate "
        "and coherent transcription:\n\n1. call my son (x1, 1 decoder)\n2. call my sun (x3, 2 decoders)\n\n"
        "Generate the corrected transcription:"
    )
    assert render(pooled, PromptConfig("lift", dedup=True, counts=True)).candidates_block == (
        "1) call my son (x1)\n2) call my sun (x3)"
    )
    hyp = render(pooled, PromptConfig("hyporadise", dedup=True, sources=True)).candidates_block
    assert hyp == "Best hypothesis:\ncall my son (1 decoder)\n\nOther hypotheses:\ncall my sun (2 decoders)"
    with pytest.raises(ValueError, match="sources=True needs dedup"):
        PromptConfig("seed", sources=True)


def test_chat_prompts_with_vote_suffixes_read_back(tmp_path):
    pooled = pool([("a", A), ("b", B)])
    path = write_nbest(
        pooled, tmp_path / "p.jsonl", fmt="chat", cfg=PromptConfig("lift", dedup=True, counts=True, sources=True)
    )
    back = read_nbest(path)
    assert back[0].texts == ["call my son", "call my sun", "call my sun", "call my sun"]
    assert majority_vote(back[0]) == majority_vote(pooled[0])


def test_load_inputs_concatenates_or_pools(tmp_path):
    a, b = write_nbest(A, tmp_path / "a.jsonl"), write_nbest(B, tmp_path / "b.jsonl")
    assert len(load_inputs([a, b])) == 4 and len(load_inputs([a, b], pool_them=True)) == 2


def test_cli_convert_pool_and_stats_pool(tmp_path, capsys):
    a, b = write_nbest(A, tmp_path / "a.jsonl"), write_nbest(B, tmp_path / "b.jsonl")
    out = tmp_path / "pooled.jsonl"
    assert main(["convert", str(a), str(b), "--pool", "--to", "seed", "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["sources"] == ["a", "a", "b", "b"] and len(rows) == 2
    capsys.readouterr()
    assert main(["stats", str(a), str(b), "--pool"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[-1].startswith("pooled: a + b") and table[-1].split()[4:6] == ["2", "2.00"]
    assert main(["convert", str(a), str(a), "--pool", "--to", "seed", "-o", str(tmp_path / "x.jsonl")]) == 2
    assert "given twice" in capsys.readouterr().err


def test_ids_that_restart_in_each_partition_join_within_their_partition():
    def split(name: str) -> list[NBestList]:
        train = [NBestList.from_texts(str(i), [f"{name} t{i}"], f"t{i}", "train") for i in (3, 4)]
        return train + [NBestList.from_texts(str(i), [f"{name} s{i}"], f"s{i}", "test") for i in (3, 4)]

    pooled = pool([("a", split("a")), ("b", list(reversed(split("b"))))])
    assert [(r.partition, r.trial_id) for r in pooled] == [
        ("train", "3"),
        ("train", "4"),
        ("test", "3"),
        ("test", "4"),
    ]
    assert pooled[2].texts == ["a s3", "b s3"]
