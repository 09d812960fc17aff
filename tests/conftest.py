"""Shared fixtures. Model fixtures build tiny local models; nothing here reaches the network."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_model import make_tiny_llama  # noqa: E402


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """Folder with a tiny random Llama and a locally built ChatML tokenizer."""
    return make_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


# --- foundation fixtures: N-best records, the shared Brain-to-Text files, sclite ---------------

import os  # noqa: E402
import shutil  # noqa: E402

from corrector.nbest import Candidate, NBestList  # noqa: E402

B2T_DIR = Path(
    os.environ.get("CORRECTOR_B2T_DIR", Path(__file__).resolve().parents[2] / "shared/data/b2t24_val_nbest")
)


@pytest.fixture(scope="session")
def b2t_dir() -> Path:
    """The shared real N-best lists (``../shared/data/b2t24_val_nbest``); skips where they are absent."""
    if not (B2T_DIR / "val_b2t_24_bi.jsonl").is_file():
        pytest.skip(f"shared Brain-to-Text N-best files not found in {B2T_DIR} (set CORRECTOR_B2T_DIR)")
    return B2T_DIR


@pytest.fixture(scope="session")
def bi_file(b2t_dir: Path) -> Path:
    return b2t_dir / "val_b2t_24_bi.jsonl"


@pytest.fixture(scope="session")
def sclite_bin() -> str:
    """Path of NIST ``sclite`` (on PATH, or where Debian's ``sctk`` package puts it); skips where absent."""
    found = shutil.which("sclite") or next(
        (p for p in ("/usr/lib/sctk/bin/sclite", "/usr/local/bin/sclite") if os.access(p, os.X_OK)), None
    )
    if not found:
        pytest.skip("NIST sclite not installed (apt-get install sctk); cannot cross-check WER counts")
    return found


def make_records() -> list[NBestList]:
    """Four small trials: scores and sources, a duplicate-heavy list, no ground truth, no candidates."""
    return [
        NBestList(
            "t1",
            (
                Candidate("I want some water.", score=-1.5, am_score=-1.0, lm_score=-0.5, source="seed0"),
                Candidate("i want some water", score=-2.25, am_score=-1.25, lm_score=-1.0, source="seed1"),
                Candidate("i won some water", score=-3.0, am_score=-2.0, lm_score=-1.0, source="seed2"),
            ),
            "I want some water.",
            "train",
        ),
        NBestList.from_texts("t2", ["call my son", "call my sun", "call my son", "fall my son"], "call my son"),
        NBestList.from_texts("t3", ["no truth here", "no truth hear"], None),
        NBestList.from_texts("t4", [], "nothing was decoded"),
    ]


@pytest.fixture
def records() -> list[NBestList]:
    return make_records()


# --- end of foundation fixtures ----------------------------------------------------------------
