"""The flashlight lexicon CTC decoder: known answers on clean simulated trials, options, greedy decoding."""

from __future__ import annotations

import numpy as np
import pytest
from asr_world import SENTENCES, make_world

from corrector.decoding import GreedyDecoder, ctc_decoder, greedy_units, prepare_emissions
from corrector.errors import InputError
from corrector.lexicon import read_lexicon
from corrector.simulate import simulate_trials
from corrector.units import UNITS


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
