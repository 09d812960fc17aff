"""Zero-shot figures with SmolLM2-135M on the held-out trials (every fifth) of the shared ``val_b2t_24_bi.jsonl``.

Systems: candidate 1, majority vote, LLM rescoring (raw and length-normalised log-likelihood),
zero-shot correction (lift template, guarded), the oracle and the compositional bound, scored by
``corrector.evaluation.systems`` (the run folder gets the usual reports).

    python bench/zero_shot_b2t24.py [--limit 176] [--dtype float32] [--out outputs/zero_shot_b2t24]
"""

from __future__ import annotations

import argparse
import time

from common import B2T24_BI

from corrector.correction.inference import Corrector
from corrector.correction.rescoring import Rescorer
from corrector.data.datasets import every_kth
from corrector.data.formats import read_nbest
from corrector.evaluation.systems import evaluate, markdown_table, write_outputs
from corrector.models import DEFAULT_MODEL

DATA = str(B2T24_BI)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DATA)
    p.add_argument("--limit", type=int, help="first n held-out trials only")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--out", default="outputs/zero_shot_b2t24")
    args = p.parse_args()

    records = [r for r in every_kth(read_nbest(args.data), 5) if r.partition == "test"][: args.limit]
    t = time.perf_counter()
    rescorer = Rescorer.from_pretrained(DEFAULT_MODEL, dtype=args.dtype)
    rescored = rescorer.choose(records, progress=False)
    rescorer.length_norm = True
    rescored_norm = rescorer.choose(records, progress=False)
    t_rescore = time.perf_counter() - t
    t = time.perf_counter()
    corrector = Corrector.from_pretrained(DEFAULT_MODEL, dtype=args.dtype)
    corrections = corrector.correct(records, batch_size=args.batch_size, progress=False)
    t_correct = time.perf_counter() - t
    ev = evaluate(
        records,
        {"llm_rescoring": rescored, "llm_rescoring_norm": rescored_norm},
        corrections,
        partition="test",
        meta={"data": args.data, "model": DEFAULT_MODEL, "dtype": args.dtype},
    )
    write_outputs(ev, args.out)
    print(f"{len(records)} held-out trials (every 5th) of {args.data}; {DEFAULT_MODEL} zero-shot, {args.dtype}")
    print(f"rescoring (both variants) {t_rescore:.0f} s, correction {t_correct:.0f} s\n")
    print(markdown_table(ev), end="")


if __name__ == "__main__":
    main()
