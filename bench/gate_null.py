"""How often the vote gate opens when it should not (two nulls) and when it should (power), by simulation.

Each calibration draws ``--trials`` inner-validation trials of 8 words. The majority candidate has
15 % word substitutions; on about half the trials the model writes an alternative with its own
substitution rate and a margin over the majority candidate, elsewhere it agrees with the vote:

- ``null``: the alternative is as good as the vote (15 %) and the margin is noise (standard normal);
- ``harmful``: the alternative is worse (30 %), the margin is noise;
- ``power``: the alternative is better (7.5 %, half the vote's rate) and the margin informative
  (the override's word-error gain plus standard-normal noise);
- ``selective``: the alternative is as good as the vote, the margin informative (only a threshold helps).

The gate may open in at most ``alpha`` of the null calibrations (what ``gate_alpha`` promises); the
table gives the opening rate of ``corrector.correction.gate.calibrate`` and of the in-sample rule it replaced
(the lowest-WER threshold tested on the trials it was chosen on), read off the same calibrations,
with the 3-sigma binomial bound ``alpha + 3 sqrt(alpha (1 - alpha) / n)``.

    python bench/gate_null.py [--calibrations 200] [--trials 150] [--cases null harmful power selective]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence

import numpy as np

WORDS = 8
VOTE_SUBS = 0.15
OVERRIDE_SHARE = 0.5
VOCAB = tuple(f"w{i}" for i in range(1000))
# case: (the alternative's substitution rate, whether its margin carries its word-error gain)
CASES: dict[str, tuple[float, bool]] = {
    "null": (0.15, False),
    "harmful": (0.30, False),
    "power": (0.075, True),
    "selective": (0.15, True),
}


def _substitute(words: Sequence[str], rate: float, rng: np.random.Generator) -> list[str]:
    out = list(words)
    for i in np.flatnonzero(rng.random(len(out)) < rate):
        out[i] = next(w for w in (VOCAB[j] for j in rng.integers(0, len(VOCAB), 8)) if w != words[i])
    return out


def simulate(case: str, trials: int, rng: np.random.Generator) -> tuple[list, list[str], list[float | None]]:
    """``(records, outputs, margins)`` of one calibration: single-candidate lists (the majority) with their truth."""
    from corrector.nbest import NBestList

    rate, informative = CASES[case]
    records, outputs, margins = [], [], []
    for i in range(trials):
        truth = [VOCAB[j] for j in rng.integers(0, len(VOCAB), WORDS)]
        vote = _substitute(truth, VOTE_SUBS, rng)
        alt = _substitute(truth, rate, rng) if rng.random() < OVERRIDE_SHARE else vote
        noise = float(rng.standard_normal())
        records.append(NBestList.from_texts(str(i), [" ".join(vote)], " ".join(truth)))
        outputs.append(" ".join(alt))
        if alt == vote:
            margins.append(None)  # agrees with the majority candidate: no margin, as Corrector reports it
        else:
            gain = sum(v != t for v, t in zip(vote, truth)) - sum(a != t for a, t in zip(alt, truth))
            margins.append(gain + noise if informative else noise)
    return records, outputs, margins


def opening_rates(case: str, calibrations: int, trials: int, alpha: float, seed: int = 0) -> dict[str, float]:
    """Share of calibrations whose gate opened: ``shipped`` (``calibrate``) and ``in_sample`` (the old rule)."""
    from corrector.correction.gate import calibrate

    shipped = in_sample = 0
    for c in range(calibrations):
        rng = np.random.default_rng([seed, c, list(CASES).index(case)])
        cal = calibrate(*simulate(case, trials, rng), alpha=alpha)
        shipped += cal.threshold < math.inf
        in_sample += cal.wer["at_best_threshold"] < cal.wer["majority_vote"] and cal.p_vs_vote < alpha
    return {"shipped": shipped / calibrations, "in_sample": in_sample / calibrations}


def bound(alpha: float, n: int, sigmas: float = 3.0) -> float:
    """The largest false-opening rate over ``n`` calibrations consistent with a true rate ``alpha``."""
    return alpha + sigmas * math.sqrt(alpha * (1 - alpha) / n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calibrations", type=int, default=200)
    p.add_argument("--trials", type=int, default=150)
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    args = p.parse_args()
    n = args.calibrations
    print(f"{n} calibrations of {args.trials} trials x {WORDS} words; gate_alpha {args.alpha}")
    print(f"3-sigma bound on a null opening rate: {bound(args.alpha, n):.3f}")
    print("| case | alternative subs. | margin | opened: in-sample rule | opened: calibrate | time |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for case in args.cases:
        start = time.perf_counter()
        r = opening_rates(case, n, args.trials, args.alpha, args.seed)
        rate, informative = CASES[case]
        print(
            f"| {case} | {100 * rate:g} % | {'informative' if informative else 'noise'} "
            f"| {r['in_sample']:.3f} | {r['shipped']:.3f} | {time.perf_counter() - start:.0f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
