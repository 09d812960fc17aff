"""The flashlight lexicon CTC decoder: known answers on clean simulated trials, options, greedy decoding, and
homophones beyond the trie's limit (the most probable kept, the rest listed, flashlight kept quiet)."""

from __future__ import annotations

import numpy as np
import pytest
from asr_world import CAT, HOMOPHONES, SENTENCES, homophone_world, make_world, unit_logits

from corrector.decoding.decoder import (
    TRIE_MAX_LABELS,
    GreedyDecoder,
    TrieLimitWarning,
    ctc_decoder,
    greedy_units,
    prepare_emissions,
)
from corrector.decoding.lexicon import limit_homophones, read_lexicon
from corrector.decoding.simulate import simulate_trials
from corrector.decoding.units import UNITS
from corrector.errors import InputError


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def decoder(world):
    return ctc_decoder(
        world.lexicon, None, world.arpa, nbest=10, beam_size=100, lm_weight=1.0, acoustic_scale=0.5, pad_frames=2
    )


def test_clean_trials_decode_to_their_sentences(decoder):
    for sentence, logits in zip(SENTENCES, simulate_trials(SENTENCES, noise=0.0, seed=3)):
        hyps = decoder(logits)
        assert hyps[0].text == sentence
        texts = [h.text for h in hyps]
        assert len(set(texts)) == len(texts) and len(hyps) <= 10  # distinct word sequences
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert hyps[0].score == pytest.approx(hyps[0].am_score + 1.0 * hyps[0].lm_score, abs=1e-3)


def test_lm_recovers_what_greedy_misses(world, decoder):
    lexicon = read_lexicon(world.lexicon)
    greedy = GreedyDecoder(list(UNITS), lexicon)
    sents = SENTENCES * 4
    trials = simulate_trials(sents, noise=0.2, seed=5)
    beam_right = sum(decoder(x)[0].text == s for x, s in zip(trials, sents))
    greedy_right = sum(greedy(x) == s for x, s in zip(trials, sents))
    assert beam_right > greedy_right


def test_no_lm_and_nbest_override(world):
    d = ctc_decoder(world.lexicon, list(UNITS), None, nbest=3, beam_size=50, pad_frames=1)
    logits = simulate_trials(["the dog ate the rat"], 0.0, 1)[0]
    assert d(logits)[0].text == "the dog ate the rat"
    assert len(d(logits, nbest=1)) == 1
    assert all(h.lm_score == 0 for h in d(logits))


def test_nothing_found_gives_empty_list(world):
    d = ctc_decoder(world.lexicon, None, world.arpa, nbest=5, pad_frames=0)
    one_frame = np.zeros((1, 41), dtype=np.float32)  # no word's spelling fits in one frame
    assert d(one_frame) == []


def test_prepare_emissions():
    logits = np.random.default_rng(0).normal(size=(6, 41)).astype(np.float32)
    em = prepare_emissions(logits, temperature=2.0, acoustic_scale=0.5, pad_frames=2)
    assert em.dtype == np.float32 and em.flags.c_contiguous and em.shape == (8, 41)
    np.testing.assert_allclose(np.exp(em[:6] / 0.5).sum(axis=1), 1.0, rtol=1e-5)
    assert (em[6:, 0] == 0).all() and (em[6:, 1:] < -100).all()
    with pytest.raises(ValueError, match="2D"):
        prepare_emissions(logits[None])


def test_decoder_option_errors(world):
    with pytest.raises(InputError, match="sil_token 'SIL' is not one of the 41 tokens"):
        ctc_decoder(world.lexicon, None, None, sil_token="SIL")
    with pytest.raises(InputError, match="language model file not found"):
        ctc_decoder(world.lexicon, None, world.root / "missing.kenlm")


def test_greedy_units_collapse_repeats_and_blanks():
    ids = [0, 5, 5, 0, 5, 7, 7, 0, 0, 40]
    logits = np.eye(41, dtype=np.float32)[ids]
    assert greedy_units(logits) == [5, 5, 7, 40]


def test_homophones_beyond_the_trie_limit_keep_the_most_probable(tmp_path, capfd):
    lexicon, arpa = homophone_world(tmp_path)
    with pytest.warns(TrieLimitWarning, match=r"dropped 2 word pronunciations, the least probable under the LM"):
        d = ctc_decoder(lexicon, None, arpa, nbest=10, pad_frames=2)
    # w8, w7 most probable; w2..w6 tie, lexicon order keeps w2..w5; w1 is not in the LM and ranks last
    assert [(x.word, x.in_lm, x.lost) for x in d.dropped] == [("w6", True, True), ("w1", False, True)]
    assert d.dropped[0].log10_prob < 0 and d.dropped[1].log10_prob is None
    assert d.dropped[0].pronunciation == tuple(CAT)
    assert {h.text for h in d(unit_logits(CAT))} == {"w8", "w7", "w2", "w3", "w4", "w5"}
    out, err = capfd.readouterr()
    assert "[Trie]" not in out + err


def test_homophones_without_lm_keep_lexicon_order(tmp_path, capfd):
    lex = {w: [CAT] for w in HOMOPHONES}
    lex["w1"] = [CAT] * 8  # one word listed more often than the trie holds words: counts once
    lex["w8"] = [CAT, ["K", "AE", "T", "S", "|"]]  # keeps its other pronunciation
    with pytest.warns(TrieLimitWarning, match="the last in lexicon order.*words lost entirely: 1 "):
        d = ctc_decoder(lex, None, None, nbest=10)
    assert [(x.word, x.in_lm, x.lost) for x in d.dropped] == [("w7", None, True), ("w8", None, False)]
    assert {h.text for h in d(unit_logits(CAT), nbest=TRIE_MAX_LABELS)} == set(HOMOPHONES[:TRIE_MAX_LABELS])
    assert d(unit_logits(["K", "AE", "T", "S", "|"]))[0].text == "w8"
    out, err = capfd.readouterr()
    assert "[Trie]" not in out + err


def test_limit_homophones_ranks_by_probability_then_lexicon_order():
    lex = {"a": [["X"]], "b": [["X"], ["Y"]], "c": [["X"]], "d": [["X"]], "e": [["Y"]]}
    logp = {"a": -3.0, "b": -1.0, "c": None, "d": -1.0, "e": -9.0}
    kept, dropped = limit_homophones(lex, 2, logp.get)
    assert kept == {"b": [["X"], ["Y"]], "d": [["X"]], "e": [["Y"]]}
    assert [(x.word, x.log10_prob, x.in_lm, x.lost) for x in dropped] == [
        ("a", -3.0, True, True),
        ("c", None, False, True),
    ]
    kept, dropped = limit_homophones(lex, 3)  # no LM: lexicon order
    assert list(kept) == ["a", "b", "c", "e"] and [(x.word, x.in_lm) for x in dropped] == [("d", None)]
