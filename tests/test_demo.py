"""The demo: pooled simulated decoders differ, and two fresh runs agree on everything but training (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corrector.demo import simulate

ROOT = Path(__file__).resolve().parents[1]


def test_each_simulated_decoder_has_its_own_noise(tmp_path):
    from corrector.decoding.logits import load_logits

    sentences = ["i would like some water", "turn the light off please"]
    for split in ("train", "test"):
        (tmp_path / f"{split}.txt").write_text("\n".join(sentences) + "\n")
    simulate(tmp_path, noise=0.2, seed=0, decoders=3)
    first, second, third = (load_logits(tmp_path / f"train_logits_d{d}.npz") for d in range(3))
    assert len(first) == len(second) == len(third) == 2
    assert all(a.shape != b.shape or (a != b).any() for a, b in zip(first, second))
    assert all(a.shape != b.shape or (a != b).any() for a, b in zip(second, third))
    again = tmp_path / "again"
    again.mkdir()
    for split in ("train", "test"):
        (again / f"{split}.txt").write_text("\n".join(sentences) + "\n")
    simulate(again, noise=0.2, seed=0, decoders=1)
    assert all((a == b).all() for a, b in zip(first, load_logits(again / "train_logits_d0.npz")))  # seeded


def _demo(out: Path) -> dict:
    cmd = [sys.executable, "-m", "corrector.demo", "--out", str(out), "--fresh", "--n-train", "40", "--n-test", "15"]
    cmd += ["--decoders", "3", "--max-steps", "3", "--beam-size", "30", "--workers", "1"]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True, timeout=900)
    results = json.loads((out / "eval" / "results.json").read_text())
    return {s["name"]: (s["wer"], s["sub"], s["del"], s["ins"]) for s in results["systems"]}


# LoRA training on CPU is not bit-for-bit reproducible (README: "What make demo does"), so the rows of
# the trained model may differ between runs; simulation, decoding, pooling and the baselines may not.
TRAINED = {"corrected", "gated"}


@pytest.mark.slow
def test_two_fresh_demo_runs_agree_on_data_and_baselines(tmp_path):
    first, second = _demo(tmp_path / "a"), _demo(tmp_path / "b")
    assert {"candidate_1", "majority_vote", "word_vote", "corrected", "gated", "oracle"} <= set(first)
    assert {k: v for k, v in first.items() if k not in TRAINED} == {
        k: v for k, v in second.items() if k not in TRAINED
    }
