"""A tiny decoding world for the generation tests: sentences, lexicon, 3-gram ARPA, simulated logits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from corrector.lexicon import build_lexicon, write_lexicon
from corrector.lm import build_arpa
from corrector.logits import save_seed_npz
from corrector.simulate import simulate_trials

SENTENCES = [
    "the cat sat on the mat",
    "the dog ate the rat",
    "a cat and a dog sat on a log",
    "the rat sat on the dog",
    "a dog sat on the mat",
    "the cat ate a rat",
]
EXTRA_WORDS = ["bat", "hat", "dot", "fog", "cap"]


@dataclass
class World:
    root: Path
    text: Path
    lexicon: Path
    arpa: Path
    transcripts: Path

    def logits(self, name: str, n: int, noise: float = 0.0, seed: int = 0) -> tuple[Path, list[str]]:
        """A seed-format NPZ of ``n`` simulated trials cycling through the sentences."""
        sents = [SENTENCES[i % len(SENTENCES)] for i in range(n)]
        return save_seed_npz(self.root / name, simulate_trials(sents, noise, seed)), sents

    def transcripts_for(self, sents: list[str], name: str = "tr.json") -> Path:
        path = self.root / name
        path.write_text(json.dumps(sents))
        return path


def make_world(root: Path) -> World:
    text = root / "text.txt"
    text.write_text("\n".join(SENTENCES) + "\n")
    words = " ".join(SENTENCES).split() + EXTRA_WORDS
    lex, missing = build_lexicon(words)
    assert not missing
    lexicon = write_lexicon(lex, root / "lexicon.txt")
    arpa = build_arpa(text, root / "lm.arpa", order=3)
    return World(root, text, lexicon, arpa, root / "tr.json")
