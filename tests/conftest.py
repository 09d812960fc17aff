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
