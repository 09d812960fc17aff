"""Prompt templates: how an N-best list is shown to the corrector LLM.

Each template renders one ``NBestList`` into the plain ``formatted_input`` string (the seed's
instruction format) and into TRL conversational ``prompt``/``completion`` messages. A
``PromptConfig`` names the template and its options; it is saved with datasets and adapters so
that inference renders exactly what training saw.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from corrector.errors import InputError
from corrector.metrics import normalize
from corrector.nbest import Candidate, NBestList, input_name

SEED_INSTRUCTION = (
    "Given the following {n} candidate transcriptions from a brain-to-text decoder, "
    "generate the most accurate and coherent transcription:"
)
SEED_FOOTER = "Generate the corrected transcription:"
LIFT_INSTRUCTION = (
    "Your task is to perform automatic speech recognition error correction. Below are multiple candidate "
    "transcriptions of the same utterance. These candidates were decoded from neural activity and may contain "
    "errors. Based on the candidates, produce the single most accurate, coherent, and grammatical transcription "
    "of the original utterance. Focus on key differences between candidates that change meaning or correctness, "
    "and avoid repetitive or nonsensical phrases. Respond with only the final corrected transcription\u2014no "
    "explanations or extra text."
)
HYPORADISE_INSTRUCTION = (
    "Below is the best hypothesis transcribed by a brain-to-text decoder, followed by other hypotheses. "
    "Revise the best hypothesis, using words from the other hypotheses where they are more likely, and write "
    "only the true transcription."
)


@dataclass(frozen=True)
class PromptConfig:
    """Which template renders the candidates, and how.

    top_n: show the first n candidates (None: all); with dedup, the first n distinct ones, their
    votes still counted over the whole list. dedup: show each distinct candidate once
    (compared after ``corrector.metrics.normalize``, as the vote compares them; empty ones left
    out), in rank order. counts: with dedup, show how many times each occurred, e.g. ``(x3)``:
    its votes, across every pooled input. sources: with dedup, show how many pooled inputs
    (decoders) wrote it, e.g. ``(x3, 2 decoders)``. show_scores: append each candidate's total
    decoder score.
    """

    template: str = "lift"
    top_n: int | None = None
    dedup: bool = False
    counts: bool = False
    show_scores: bool = False
    sources: bool = False

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ValueError(f"unknown prompt template {self.template!r}; choose one of {sorted(TEMPLATES)}")
        if self.counts and not self.dedup:
            raise ValueError("prompt option counts=True needs dedup=True")
        if self.sources and not self.dedup:
            raise ValueError("prompt option sources=True needs dedup=True")
        if self.top_n is not None and self.top_n < 1:
            raise ValueError(f"top_n must be at least 1, got {self.top_n}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PromptConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown prompt options {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


def merge_prompt(saved: PromptConfig | None, given: dict[str, Any]) -> tuple[PromptConfig, list[str]]:
    """The prompt config to use, and one note per given option that overrides the saved one.

    ``given`` maps option names to values, None meaning "not given"; options not given come from
    ``saved`` (the dataset's config), else from ``PromptConfig()``. Turning ``dedup`` off also turns
    off ``counts`` unless that is given too.
    """
    base = (saved or PromptConfig()).to_dict()
    given = {k: v for k, v in given.items() if v is not None}
    merged = {**base, **given}
    if given.get("dedup") is False and "counts" not in given:
        merged["counts"] = False
    notes = [
        f"prompt option {k}={v!r} overrides the dataset's {k}={base[k]!r}"
        for k, v in given.items()
        if saved is not None and base[k] != v
    ]
    try:
        return PromptConfig.from_dict(merged), notes
    except ValueError as e:
        raise InputError(f"bad prompt options {merged}: {e}") from None


@dataclass(frozen=True)
class RenderedPrompt:
    instruction: str
    candidates_block: str
    formatted_input: str
    messages: list[dict[str, str]]

    def completion(self, target: str) -> list[dict[str, str]]:
        return [{"role": "assistant", "content": target}]


def shown_candidates(nbest: NBestList, cfg: PromptConfig) -> list[tuple[Candidate, int, int]]:
    """The candidates a prompt shows under ``cfg``, each with its count and how many pooled inputs wrote it.

    Without dedup: the first ``top_n`` candidates (count 1 each). With dedup: the first ``top_n``
    distinct candidates, their votes counted over the whole list (a pooled list included).
    """
    if not cfg.dedup:
        return [(c, 1, 1) for c in nbest.top(cfg.top_n).candidates]
    groups: dict[str, list[Candidate]] = {}
    for c in nbest.candidates:
        key = normalize(c.text)
        if key:
            groups.setdefault(key, []).append(c)
    return [(g[0], len(g), len({input_name(c) for c in g})) for g in list(groups.values())[: cfg.top_n]]


def _suffix(cand: Candidate, count: int, n_sources: int, cfg: PromptConfig) -> str:
    votes = [f"x{count}"] if cfg.counts else []
    if cfg.sources:
        votes.append(f"{n_sources} decoder{'s' if n_sources != 1 else ''}")
    s = f" ({', '.join(votes)})" if votes else ""
    if cfg.show_scores and cand.score is not None:
        s += f" [score {cand.score:.2f}]"
    return s


def _seed(shown, cfg):
    instruction = SEED_INSTRUCTION.format(n=len(shown))
    block = "\n".join(f"{i}. {c.text}{_suffix(c, k, n, cfg)}" for i, (c, k, n) in enumerate(shown, 1))
    return instruction, block, f"{instruction}\n\n{block}\n\n{SEED_FOOTER}"


def _lift(shown, cfg):
    block = "\n".join(f"{i}) {c.text}{_suffix(c, k, n, cfg)}" for i, (c, k, n) in enumerate(shown, 1))
    return LIFT_INSTRUCTION, block, f"{LIFT_INSTRUCTION}\n\nCandidates:\n{block}"


def _hyporadise(shown, cfg):
    if not shown:
        best, others = "", ""
    else:
        (c0, k0, n0), rest = shown[0], shown[1:]
        best = f"{c0.text}{_suffix(c0, k0, n0, cfg)}"
        others = "\n".join(f"{c.text}{_suffix(c, k, n, cfg)}" for c, k, n in rest)
    block = f"Best hypothesis:\n{best}\n\nOther hypotheses:\n{others}"
    return HYPORADISE_INSTRUCTION, block, f"{HYPORADISE_INSTRUCTION}\n\n{block}\n\nTrue transcription:"


TEMPLATES = {"seed": _seed, "lift": _lift, "hyporadise": _hyporadise}


def render(nbest: NBestList, cfg: PromptConfig | None = None) -> RenderedPrompt:
    """Render one N-best list; deterministic for a given record and config."""
    cfg = cfg or PromptConfig()
    instruction, block, text = TEMPLATES[cfg.template](shown_candidates(nbest, cfg), cfg)
    return RenderedPrompt(instruction, block, text, [{"role": "user", "content": text}])


def shuffled(nbest: NBestList, rng: random.Random) -> NBestList:
    """The same record with its candidates in a random order (a training augmentation)."""
    cands = list(nbest.candidates)
    rng.shuffle(cands)
    return replace(nbest, candidates=tuple(cands))
