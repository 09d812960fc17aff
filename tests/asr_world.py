"""Tiny decoding worlds for the tests: sentences, lexicon, 3-gram ARPA, simulated logits; eight homophones."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corrector.decoding.lexicon import build_lexicon, write_lexicon
from corrector.decoding.lm import build_arpa
from corrector.decoding.logits import save_seed_npz
from corrector.decoding.simulate import simulate_trials
from corrector.decoding.units import UNITS

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


CAT = ["K", "AE", "T", "|"]
HOMOPHONES = [f"w{k}" for k in range(1, 9)]  # eight words spelled K AE T |
# w8 and w7 follow many different words (the most probable unigrams under Kneser-Ney), w2..w6 start one
# sentence each (equally probable), w1 is not in the LM at all.
HOMOPHONE_TEXT = ["a w8", "b w8", "c w8", "d w8", "e w8", "a w7", "b w7", "c w7", "w2", "w3", "w4", "w5", "w6"]


def homophone_world(root: Path) -> tuple[Path, Path]:
    """A lexicon of eight homophones (more than the decoder's trie holds) and a 2-gram ARPA that prefers two."""
    lexicon = write_lexicon({w: [CAT] for w in HOMOPHONES}, root / "homophones.txt")
    (root / "homophones_lm.txt").write_text("\n".join(HOMOPHONE_TEXT) + "\n")
    return lexicon, build_arpa(root / "homophones_lm.txt", root / "homophones.arpa", order=2)


def unit_logits(units: list[str], frames: int = 2) -> np.ndarray:
    """Raw ``[T, 41]`` logits that clearly say ``units``, each for ``frames`` frames."""
    ids = [UNITS.index(u) for u in units for _ in range(frames)]
    logits = np.zeros((len(ids), len(UNITS)), dtype=np.float32)
    logits[np.arange(len(ids)), ids] = 10.0
    return logits
