"""Corrections/s of the batched Corrector against the seed's ``correct_beams`` style, float32 and bf16.

The seed (README_corrector.md) corrects one prompt at a time: its raw instruction prompt, ``generate``
with sampling (temperature 0.7) and ``max_new_tokens=128``, then splits the decoded text. The
batched path renders the chat prompt, generates greedily in left-padded batches and stops each
output at the end of its first line. Both run here on the same records with SmolLM2-135M-Instruct
(zero-shot: throughput does not depend on the adapter), side by side, per dtype.

    python bench/bench_inference.py [--n 64] [--batch-size 8] [--seed-limit 64]
"""

from __future__ import annotations

import argparse
import time

import torch
from common import B2T24_BI

from corrector.correction.inference import Corrector, TransformersBackend
from corrector.data.formats import read_nbest
from corrector.data.prompts import PromptConfig, render
from corrector.metrics import normalize, wer
from corrector.models import DEFAULT_MODEL, load_model, load_tokenizer

DATA = str(B2T24_BI)


def seed_style(model, tokenizer, records, max_new_tokens: int = 128) -> tuple[list[str], int]:
    """The seed's ``correct_beams``: one raw prompt at a time, sampling, split after the prompt's last line.

    Returns the outputs and the number of generated tokens (sampling makes output lengths vary).
    """
    out, tokens = [], 0
    for r in records:
        prompt = render(r, PromptConfig(template="seed")).formatted_input
        inputs = tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            gen = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=True,
                temperature=0.7,
                pad_token_id=tokenizer.pad_token_id,
            )
        tokens += gen.shape[1] - inputs["input_ids"].shape[1]
        text = tokenizer.decode(gen[0], skip_special_tokens=True)
        out.append(text.split("Generate the corrected transcription:")[-1].strip())
    return out, tokens


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DATA)
    p.add_argument("--n", type=int, default=64, help="records (the first n of the file)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed-limit", type=int, help="time the seed style on the first k records only (default: all)")
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    args = p.parse_args()

    records = read_nbest(args.data)[: args.n]
    seed_records = records[: args.seed_limit or args.n]
    refs = [r.ground_truth for r in records]
    tokenizer = load_tokenizer(DEFAULT_MODEL, padding_side="left")
    torch.manual_seed(0)
    rows, outputs = [], {}
    for dtype in args.dtypes:
        model = load_model(DEFAULT_MODEL, dtype=dtype).eval()
        corrector = Corrector(TransformersBackend(model, tokenizer), tokenizer, PromptConfig())
        corrector.correct(records[:2], batch_size=2, progress=False)  # warm-up
        t = time.perf_counter()
        corrections = corrector.correct(records, batch_size=args.batch_size, progress=False)
        batched = len(records) / (time.perf_counter() - t)
        t = time.perf_counter()
        _, seed_tokens = seed_style(model, tokenizer, seed_records)
        seed = len(seed_records) / (time.perf_counter() - t)
        outputs[dtype] = [c.text for c in corrections]
        fb = sum(c.fallback is not None for c in corrections)
        rows.append(
            (dtype, seed, seed_tokens / len(seed_records), batched, batched / seed, wer(refs, outputs[dtype]), fb)
        )
        print(f"{dtype}: seed style {seed:.3f}/s, batched {batched:.3f}/s", flush=True)

    print(
        f"\n{len(records)} records of {args.data} (seed style timed on {len(seed_records)}), {DEFAULT_MODEL}, CPU, "
        f"{torch.get_num_threads()} threads, batch {args.batch_size}\n"
    )
    print("| dtype | seed style corr/s | seed tokens/output | batched corr/s | speed-up | batched WER % | fallbacks |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for dtype, seed, seed_tok, batched, ratio, w, fb in rows:
        print(f"| {dtype} | {seed:.3f} | {seed_tok:.0f} | {batched:.3f} | {ratio:.1f}x | {w:.2f} | {fb} |")
    if "float32" in outputs and "bfloat16" in outputs:
        a, b = outputs["float32"], outputs["bfloat16"]
        same = sum(normalize(x) == normalize(y) for x, y in zip(a, b))
        print(f"\nbf16 outputs equal to float32 (normalised): {same}/{len(a)}")


if __name__ == "__main__":
    main()
