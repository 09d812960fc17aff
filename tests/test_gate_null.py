"""The gate keeps ``gate_alpha``'s promise: simulated calibrations (``bench/gate_null.py``) under two nulls and one
case where the overrides are truly better.

200 calibrations tell a 5 % opening rate from the 12 % of the in-sample rule the out-of-fold test replaced:
the bound is ``alpha`` plus three binomial standard deviations (9.6 %).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CALIBRATIONS, TRIALS, ALPHA = 200, 150, 0.05


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


bench = load(ROOT / "bench" / "gate_null.py")


def test_uninformative_overrides_as_good_as_the_vote_open_the_gate_at_most_alpha():
    rates = bench.opening_rates("null", CALIBRATIONS, TRIALS, ALPHA)
    assert rates["shipped"] <= bench.bound(ALPHA, CALIBRATIONS)
    assert rates["in_sample"] > bench.bound(ALPHA, CALIBRATIONS)  # the old rule fails this test


def test_overrides_worse_than_the_vote_open_the_gate_at_most_alpha():
    assert bench.opening_rates("harmful", CALIBRATIONS, TRIALS, ALPHA)["shipped"] <= bench.bound(ALPHA, CALIBRATIONS)


def test_better_overrides_with_an_informative_margin_open_the_gate():
    # half the vote's error rate, a margin that tracks each override's gain: the slow test runs 200 calibrations
    assert bench.opening_rates("power", 50, TRIALS, ALPHA)["shipped"] >= 0.8


@pytest.mark.slow
@pytest.mark.parametrize("case", ["power", "selective"])
def test_better_overrides_open_the_gate_in_most_calibrations(case):
    # selective: overrides as good as the vote on average, but the margin tells which help: only a threshold gains
    assert bench.opening_rates(case, CALIBRATIONS, TRIALS, ALPHA)["shipped"] >= 0.8
