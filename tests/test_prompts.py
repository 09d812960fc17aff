"""Prompt templates, byte for byte."""

from __future__ import annotations

import random

import pytest

from corrector.data.formats import parse_candidates, read_nbest
from corrector.data.prompts import TEMPLATES, PromptConfig, render, shuffled
from corrector.nbest import NBestList

LIFT = (
    "Your task is to perform automatic speech recognition error correction. Below are multiple candidate "
    "transcriptions of the same utterance. These candidates were decoded from neural activity and may contain "
    "errors. Based on the candidates, produce the single most accurate, coherent, and grammatical transcription "
    "of the original utterance. Focus on key differences between candidates that change meaning or correctness, "
    "and avoid repetitive or nonsensical phrases. Respond with only the final corrected transcription\u2014no "
    "explanations or extra text."
)
HYPO = (
    "Below is the best hypothesis transcribed by a brain-to-text decoder, followed by other hypotheses. "
    "Revise the best hypothesis, using words from the other hypotheses where they are more likely, and write "
    "only the true transcription."
)


@pytest.fixture
def nb() -> NBestList:
    return NBestList.from_texts(
        "t1",
        ["i want some water", "i won some water", "i want some water", "i want sum water"],
        "i want some water",
        scores=[-1.0, -1.25, -2.5, None],
    )


def test_registry() -> None:
    assert {"seed", "lift", "hyporadise"} <= set(TEMPLATES)


@pytest.mark.parametrize(
    "cfg, expected",
    [
        (
            PromptConfig("seed"),
            "Given the following 4 candidate transcriptions from a brain-to-text decoder, generate the most accurate "
            "and coherent transcription:\n\n1. i want some water\n2. i won some water\n3. i want some water\n"
            "4. i want sum water\n\nGenerate the corrected transcription:",
        ),
        (
            PromptConfig("seed", dedup=True, counts=True),
            "Given the following 3 candidate transcriptions from a brain-to-text decoder, generate the most accurate "
            "and coherent transcription:\n\n1. i want some water (x2)\n2. i won some water (x1)\n"
            "3. i want sum water (x1)\n\nGenerate the corrected transcription:",
        ),
        (
            PromptConfig("seed", top_n=2, show_scores=True),
            "Given the following 2 candidate transcriptions from a brain-to-text decoder, generate the most accurate "
            "and coherent transcription:\n\n1. i want some water [score -1.00]\n2. i won some water [score -1.25]\n\n"
            "Generate the corrected transcription:",
        ),
        (
            PromptConfig("lift"),
            LIFT + "\n\nCandidates:\n1) i want some water\n2) i won some water\n3) i want some water\n"
            "4) i want sum water",
        ),
        (
            PromptConfig("lift", dedup=True),
            LIFT + "\n\nCandidates:\n1) i want some water\n2) i won some water\n3) i want sum water",
        ),
        (
            PromptConfig("lift", dedup=True, counts=True, show_scores=True),
            LIFT + "\n\nCandidates:\n1) i want some water (x2) [score -1.00]\n2) i won some water (x1) [score -1.25]\n"
            "3) i want sum water (x1)",
        ),
        (  # with dedup, top_n counts distinct candidates; votes are counted over the whole list
            PromptConfig("lift", top_n=1, dedup=True, counts=True),
            LIFT + "\n\nCandidates:\n1) i want some water (x2)",
        ),
        (
            PromptConfig("hyporadise"),
            HYPO + "\n\nBest hypothesis:\ni want some water\n\nOther hypotheses:\ni won some water\n"
            "i want some water\ni want sum water\n\nTrue transcription:",
        ),
        (
            PromptConfig("hyporadise", dedup=True, counts=True),
            HYPO + "\n\nBest hypothesis:\ni want some water (x2)\n\nOther hypotheses:\ni won some water (x1)\n"
            "i want sum water (x1)\n\nTrue transcription:",
        ),
        (
            PromptConfig("hyporadise", top_n=1, show_scores=True),
            HYPO
            + "\n\nBest hypothesis:\ni want some water [score -1.00]\n\nOther hypotheses:\n\n\nTrue transcription:",
        ),
    ],
    ids=lambda x: str(x.to_dict()) if isinstance(x, PromptConfig) else "",
)
def test_render_byte_for_byte(nb: NBestList, cfg: PromptConfig, expected: str) -> None:
    p = render(nb, cfg)
    assert p.formatted_input == expected
    assert p.messages == [{"role": "user", "content": expected}]
    assert p.completion("i want some water") == [{"role": "assistant", "content": "i want some water"}]
    assert expected.startswith(p.instruction)
    assert p.candidates_block in expected
    assert render(nb, cfg) == p  # deterministic


def test_default_is_lift_and_empty_lists_render(nb: NBestList) -> None:
    assert render(nb) == render(nb, PromptConfig("lift"))
    empty = NBestList("e")
    assert render(empty, PromptConfig("lift")).formatted_input == LIFT + "\n\nCandidates:\n"
    assert render(empty, PromptConfig("hyporadise")).candidates_block == "Best hypothesis:\n\n\nOther hypotheses:\n"
    assert "following 0 candidate" in render(empty, PromptConfig("seed")).formatted_input


def test_rendered_candidates_parse_back(nb: NBestList) -> None:
    text = render(nb, PromptConfig("lift", show_scores=True)).formatted_input
    assert parse_candidates(text) == (nb.texts, [-1.0, -1.25, -2.5, None])
    assert parse_candidates(render(nb, PromptConfig("seed")).formatted_input)[0] == nb.texts
    texts, _ = parse_candidates(render(nb, PromptConfig("lift", dedup=True, counts=True)).formatted_input)
    assert texts == ["i want some water", "i want some water", "i won some water", "i want sum water"]


def test_lift_reproduces_the_shared_chat_files(bi_file) -> None:
    import json

    rows = [json.loads(line) for line in bi_file.read_text(encoding="utf-8").splitlines()[:50]]
    for row, rec in zip(rows, read_nbest(bi_file)[:50]):
        assert render(rec, PromptConfig("lift")).messages == [{"role": "user", "content": row["prompt"][0]["content"]}]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"template": "nope"}, "unknown prompt template 'nope'"),
        ({"counts": True}, "counts=True needs dedup=True"),
        ({"top_n": 0}, "top_n must be at least 1, got 0"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PromptConfig(**kwargs)


def test_config_dict_round_trip() -> None:
    cfg = PromptConfig("seed", top_n=5, dedup=True, counts=True, show_scores=True)
    assert PromptConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"unknown prompt options \['colour'\]"):
        PromptConfig.from_dict({"template": "lift", "colour": "red"})


def test_shuffled_is_seeded(nb: NBestList) -> None:
    a, b = shuffled(nb, random.Random(3)), shuffled(nb, random.Random(3))
    assert a == b
    assert sorted(a.texts) == sorted(nb.texts)
    assert a.ground_truth == nb.ground_truth
