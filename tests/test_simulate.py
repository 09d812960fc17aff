"""The emission simulator: seeded, clean trials exact, noise sets the phoneme error rate."""

from __future__ import annotations

import numpy as np
import pytest

from corrector.decoding.decoder import greedy_units
from corrector.decoding.simulate import phoneme_error_rate, sentence_units, simulate_trials
from corrector.decoding.units import UNITS
from corrector.errors import InputError

SENTS = ["the quick brown fox jumps over the lazy dog", "she sells sea shells by the sea shore"] * 15


def test_seeded_and_shaped():
    a = simulate_trials(SENTS[:4], noise=0.2, seed=7)
    b = simulate_trials(SENTS[:4], noise=0.2, seed=7)
    c = simulate_trials(SENTS[:4], noise=0.2, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c))
    assert all(x.dtype == np.float32 and x.shape[1] == 41 for x in a)
    # trial i depends only on (seed, i) and its sentence
    assert np.array_equal(simulate_trials(SENTS[:2], 0.2, 7)[1], a[1])


def test_clean_trial_greedy_is_exact():
    logits = simulate_trials(["read the book"], noise=0.0, seed=1)[0]
    units = [UNITS[k] for k in greedy_units(logits)]
    assert units == sentence_units("read the book", np.random.default_rng([1, 0]))
    assert units[-1] == "|"


def test_noise_sets_phoneme_error_rate():
    pers = [phoneme_error_rate(simulate_trials(SENTS, n, 0), SENTS, 0) for n in (0.0, 0.1, 0.2)]
    assert pers[0] == 0.0
    assert 5 < pers[1] < pers[2] < 30


def test_unknown_word():
    with pytest.raises(InputError, match="no pronunciation of 'qqzzx'"):
        simulate_trials(["hello qqzzx"])
