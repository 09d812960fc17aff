"""The 41 output units of the Brain-to-Text encoders, and tokens files in torchaudio's layout.

Units: the CTC blank ``-``, the 39 ARPAbet phonemes without stress, and ``|`` (word boundary /
silence). A tokens file has one token per line, its line number being the class index.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from corrector.errors import InputError

BLANK = "-"
SIL = "|"
# The 39 ARPAbet phonemes of CMUdict without stress, in the order of the Brain-to-Text logits.
PHONEMES: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY", "JH",
    "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
UNITS: tuple[str, ...] = (BLANK, *PHONEMES, SIL)


def default_tokens_path() -> Path:
    """The tokens file shipped inside the package (same content as the repository's ``data/tokens.txt``)."""
    return Path(str(resources.files("corrector") / "resources" / "tokens.txt"))


def read_tokens(path: str | Path | None = None) -> list[str]:
    """Tokens in class order from a torchaudio tokens file (default: the 41 Brain-to-Text units).

    Only the first field of a line counts (torchaudio allows aliases after it); blank lines are errors
    because they would shift every later class index.
    """
    path = Path(path) if path is not None else default_tokens_path()
    if not path.is_file():
        raise InputError(f"{path}: tokens file not found")
    tokens: list[str] = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            raise InputError(f"{path}:{no}: empty line in tokens file (one token per line; its line is its index)")
        if fields[0] in tokens:
            raise InputError(f"{path}:{no}: token {fields[0]!r} appears twice")
        tokens.append(fields[0])
    if not tokens:
        raise InputError(f"{path}: tokens file is empty")
    return tokens
