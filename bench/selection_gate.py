"""Saved selection models under the current gate: refit combiner and gate on their inner validation, score held-out.

A selection model's ``training_summary.json`` holds the combiner and gate its training run fitted. When
the calibration changes (cross-fitted choices, the out-of-fold significance test of ``corrector.correction.gate``),
this re-fits both on the same inner-validation trials (every ``--every``-th trial of the dataset's ``train``
partition, as ``corrector.training.reward`` carves it) with the model's rewards, and prints held-out WER (the
dataset's ``test`` partition) with the saved and with the refit combiner and gate, beside the vote.

    python bench/selection_gate.py outputs/b2t24_real_selection/model [more model folders] \\
        --dataset outputs/b2t24_real_selection/dataset
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+", help="selection model folders (corrector.training.reward outputs)")
    p.add_argument("--dataset", required=True, help="the saved dataset they were trained on (train and test)")
    p.add_argument("--every", type=int, default=5, help="the training run's gate_validation_every")
    p.add_argument("--alpha", type=float, default=0.05, help="the gate's significance level")
    args = p.parse_args()

    from corrector.correction.gate import GateCalibration, inner_validation
    from corrector.correction.inference import resolve_checkpoint
    from corrector.correction.selection import Selector, fit_selection
    from corrector.data.datasets import load_records
    from corrector.metrics import align, majority_vote, paired_bootstrap, wer

    _, inner = inner_validation(load_records(args.dataset, "train"), args.every)
    test = load_records(args.dataset, "test")
    refs = [r.ground_truth for r in test]
    vote = [majority_vote(r) for r in test]
    vote_counts = [align(r, v) for r, v in zip(refs, vote)]
    print(
        f"held-out: {len(test)} trials, pooled vote {wer(refs, vote):.2f} % WER; inner validation {len(inner)} trials"
    )
    print(
        "| model | gate | threshold | inner val.: vote / ungated / gated (p out of fold; in sample) | held-out ungated "
        "| held-out gated | p vs vote | overrides |"
    )
    print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for name in args.models:
        start = time.perf_counter()
        saved = Selector.from_checkpoint(resolve_checkpoint(name), gate=None)
        inner_rewards = saved.scorer.rewards(inner, progress=False)
        test_rewards = saved.scorer.rewards(test, progress=False)
        fit = fit_selection(inner, inner_rewards, alpha=args.alpha)
        old = GateCalibration.from_dict(saved.checkpoint.summary["gate"], name)
        for label, combiner, gate in (("saved", saved.combiner, old), ("refit", fit.combiner, fit.gate)):
            threshold, w = gate.threshold, gate.wer
            out = Selector(saved.scorer, combiner, gate=threshold).correct(test, rewards=test_rewards, progress=False)
            gated = [c.text for c in out]
            p_vote = paired_bootstrap([align(r, h) for r, h in zip(refs, gated)], vote_counts)
            ps = "; ".join("–" if pv is None else str(pv) for pv in (gate.p_out_of_fold, gate.p_vs_vote))
            inner_cell = f"{w['majority_vote']} / {w['ungated']} / {w['gated']} ({ps})"
            print(
                f"| {name} | {label} | {threshold:.3g} | {inner_cell} | {wer(refs, [c.ungated_text for c in out]):.2f} "
                f"| {wer(refs, gated):.2f} | {p_vote:.3f} | {sum(c.text != v for c, v in zip(out, vote))} |",
                flush=True,
            )
        print(f"({name}: {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
