"""Interpolated modified Kneser-Ney ARPA: KenLM loads it and its distributions normalise."""

from __future__ import annotations

import kenlm
import pytest

from corrector.decoding.lm import build_arpa, check_lm_file, load_decoder_lm
from corrector.errors import InputError

TEXT = """the cat sat on the mat
the dog sat on the log
a cat and a dog
the cat ate the rat
a rat sat on a mat
the dog ate
the cat sat on a log today
"""


def _prob_sum(model: kenlm.Model, history: list[str], vocab: list[str]) -> float:
    state, out = kenlm.State(), kenlm.State()
    model.BeginSentenceWrite(state)
    for w in history:
        model.BaseScore(state, w, out)
        state, out = out, state
    return sum(10 ** model.BaseScore(state, w, out) for w in vocab)


@pytest.mark.parametrize("order", [3, 4, 5])
def test_arpa_loads_and_normalises(tmp_path, order):
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    arpa = build_arpa(text, tmp_path / "lm.arpa", order)
    model = kenlm.Model(str(arpa))
    assert model.order == order
    vocab = sorted(set(TEXT.split())) + ["</s>", "<unk>"]
    for history in ([], ["the"], ["the", "cat"], ["sat", "on", "a"], ["cat", "ate", "the"], ["zebra", "the"]):
        assert _prob_sum(model, history, vocab) == pytest.approx(1.0, abs=1e-3), history
    # seen continuations are more likely than unseen ones
    assert model.score("the cat sat", bos=True, eos=False) > model.score("the sat cat", bos=True, eos=False)


def test_build_arpa_errors(tmp_path):
    with pytest.raises(InputError, match="LM training text not found"):
        build_arpa(tmp_path / "none.txt", tmp_path / "lm.arpa")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="no words"):
        build_arpa(empty, tmp_path / "lm.arpa")
    with pytest.raises(ValueError, match="order"):
        build_arpa(empty, tmp_path / "lm.arpa", order=1)


def test_lm_file_checks(tmp_path):
    from flashlight.lib.text.dictionary import create_word_dict

    with pytest.raises(InputError, match="language model file not found"):
        check_lm_file(tmp_path / "huge.kenlm")
    junk = tmp_path / "junk.kenlm"
    junk.write_text("hello\n")
    with pytest.raises(InputError, match="junk.kenlm: not a KenLM model"):
        check_lm_file(junk)
    broken = tmp_path / "broken.arpa"
    broken.write_text("\\data\\\nngram 1=5\n")
    with pytest.raises(InputError, match="broken.arpa: KenLM could not load it"):
        load_decoder_lm(broken, create_word_dict({"a": [["A"]], "<unk>": [["<unk>"]]}))
