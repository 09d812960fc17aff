"""Units and tokens files; lexicons: CMUdict build with variants, torchaudio form read/write, errors."""

from __future__ import annotations

import pytest

from corrector.decoding.lexicon import build_lexicon, read_lexicon, write_lexicon
from corrector.decoding.units import PHONEMES, UNITS, default_tokens_path, read_tokens
from corrector.errors import InputError


def test_units_and_shipped_tokens_file():
    assert len(UNITS) == 41 and UNITS[0] == "-" and UNITS[-1] == "|" and len(PHONEMES) == 39
    assert read_tokens() == list(UNITS)
    repo_copy = default_tokens_path().parents[2] / "data" / "tokens.txt"
    assert repo_copy.read_text() == default_tokens_path().read_text()


def test_read_tokens_errors(tmp_path):
    bad = tmp_path / "t.txt"
    bad.write_text("-\nAA\n\nAE\n")
    with pytest.raises(InputError, match=r"t.txt:3: empty line"):
        read_tokens(bad)
    bad.write_text("-\nAA\nAA\n")
    with pytest.raises(InputError, match=r"t.txt:3: token 'AA' appears twice"):
        read_tokens(bad)
    with pytest.raises(InputError, match="not found"):
        read_tokens(tmp_path / "missing.txt")


def test_build_lexicon_variants_without_stress():
    lex, missing = build_lexicon(["Read", "the", "zzqxv", "read"])
    assert missing == ["zzqxv"]
    assert list(lex) == ["read", "the"]
    assert lex["read"] == [["R", "EH", "D", "|"], ["R", "IY", "D", "|"]]
    assert all(u in UNITS for spellings in lex.values() for s in spellings for u in s)
    one, _ = build_lexicon(["read"], variants=False)
    assert one["read"] == [["R", "EH", "D", "|"]]


def test_lexicon_round_trip(tmp_path):
    lex, _ = build_lexicon(["read", "cat", "the"])
    path = write_lexicon(lex, tmp_path / "lex.txt")
    assert path.read_text().splitlines()[0] == "read R EH D |"
    assert read_lexicon(path, UNITS) == lex


def test_read_lexicon_errors(tmp_path):
    path = tmp_path / "lex.txt"
    path.write_text("cat K AE T |\ndog D AO1 G |\n")
    with pytest.raises(InputError, match=r"lex.txt:2: word 'dog' uses unit 'AO1', which is not in the tokens file"):
        read_lexicon(path, UNITS)
    path.write_text("cat K AE T |\nlonely\n")
    with pytest.raises(InputError, match=r"lex.txt:2: word 'lonely' has no spelling"):
        read_lexicon(path)
    with pytest.raises(InputError, match="lexicon file not found"):
        read_lexicon(tmp_path / "nope.txt")
