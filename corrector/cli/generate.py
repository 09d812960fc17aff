"""``corrector generate``: N-best lists from encoder logits (the seed's ``generate_data_lift.py`` flags)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from corrector.cli._args import Parser, add_overwrite, non_negative_int, positive_float, positive_int
from corrector.decoding.generate import (
    MERGE_ORDERS,
    GenerateConfig,
    InterruptedWhenComplete,
    generate,
    merge_shards,
    work_dir,
)
from corrector.errors import InputError, debug_enabled
from corrector.files import FolderKind, check_output, output_lock


def _made_by_generate(folder: Path) -> bool:
    try:
        return "generate" in json.loads((folder / "corrector.json").read_text())
    except (OSError, ValueError):
        return False


GENERATED = FolderKind("corrector generate output", test=_made_by_generate, marked_as="saved dataset")


def add_arguments(p: argparse.ArgumentParser) -> None:
    io = p.add_argument_group("inputs and output")
    io.add_argument(
        "--logits-path",
        action="append",
        required=True,
        help="logits file (.npz arr_0…, padded .npz/.npy, .pt); repeat for several decoders or seeds",
    )
    io.add_argument(
        "--transcripts-path",
        help="ground truth: pandas pickle (trusted files only), JSON list, or text (default: none, unlabelled)",
    )
    io.add_argument("-o", "--output-path", required=True, help="dataset folder, or x.jsonl for x.jsonl plus folder x/")
    io.add_argument("--tokens", help="tokens file, one unit per line (default: the 41 Brain-to-Text units)")
    io.add_argument("--lexicon", required=True, help="lexicon: 'word PH1 PH2 … |' lines, variants on extra lines")
    io.add_argument("--word-lm-path", help="KenLM word n-gram (ARPA or binary) (default: none, decode without an LM)")
    io.add_argument("--partition", default="train", help="partition name of the output split")
    io.add_argument("--source-names", nargs="+", help="one name per --logits-path (default: file stems)")
    add_overwrite(io, "replace an output another command wrote; a rerun redoes generate's own without it")

    dec = p.add_argument_group("decoder (torchaudio ctc_decoder options)")
    dec.add_argument("--beam-size", type=positive_int, default=300, help="hypotheses kept per step (beam_size)")
    dec.add_argument("--top-n", type=positive_int, default=100, help="distinct hypotheses kept per logits file")
    dec.add_argument("--acoustic-scale", type=positive_float, default=0.4, help="factor on log-probabilities")
    dec.add_argument("--alpha-ngram", type=float, default=1.0, help="LM weight (lm_weight)")
    dec.add_argument("--word-score", type=float, default=0.0, help="word insertion score")
    dec.add_argument("--beam-prune-threshold", type=positive_float, default=50.0, help="beam_threshold")
    dec.add_argument(
        "--beam-size-token", type=positive_int, help="tokens considered per step (beam_size_token) (default: all)"
    )
    dec.add_argument(
        "--temperature", type=positive_float, default=1.0, help="logits are divided by it before log_softmax"
    )
    dec.add_argument("--pad-frames", type=non_negative_int, default=2, help="blank frames appended to each trial")
    dec.add_argument("--sil-score", type=float, default=0.0, help="silence insertion score (sil_score)")
    dec.add_argument("--unk-score", type=float, default=float("-inf"), help="unknown-word score (unk_score)")
    dec.add_argument("--log-add", action="store_true", help="log-add merged paths instead of max")
    dec.add_argument("--merge-order", choices=MERGE_ORDERS, default="score", help="how sources' lists merge")

    run = p.add_argument_group("selection and running")
    run.add_argument(
        "--limit",
        "--max-samples",
        type=positive_int,
        metavar="N",
        help="decode only the first N selected trials (default: all)",
    )
    run.add_argument(
        "--trial-indices",
        type=non_negative_int,
        nargs="+",
        help="decode only these trials (file positions) (default: all)",
    )
    run.add_argument("--num-workers", type=positive_int, default=1, help="decoder processes")
    run.add_argument("--shard-index", type=non_negative_int, default=0, help="this job's shard (0-based)")
    run.add_argument("--num-shards", type=positive_int, default=1, help="shards of the trial list (e.g. array jobs)")
    run.add_argument("--merge", action="store_true", help="join the finished shards into the output")
    run.add_argument(
        "--resume",
        action="store_true",
        default=True,
        help="continue from the checkpoints of an interrupted run (--no-resume: discard them, start over)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def _check_outputs(args: argparse.Namespace) -> None:
    """Before decoding, refuse outputs that neither a run of this command wrote nor ``--overwrite`` frees."""
    from corrector.data.datasets import DATASET

    out = Path(args.output_path)
    folder, jsonl = (out.with_suffix(""), out) if out.suffix == ".jsonl" else (out, None)
    inputs = [*args.logits_path, args.transcripts_path, args.tokens, args.lexicon, args.word_lm_path]
    ours = folder.is_dir() and GENERATED.owns(folder)  # a rerun redoes its own output, as before
    check_output(folder, inputs=inputs, overwrite=args.overwrite or ours, kind=DATASET)
    if jsonl is not None:
        check_output(jsonl, inputs=inputs, overwrite=args.overwrite or ours)


def config_from_args(args: argparse.Namespace) -> GenerateConfig:
    return GenerateConfig(
        logits_paths=args.logits_path,
        output_path=args.output_path,
        lexicon=args.lexicon,
        transcripts_path=args.transcripts_path,
        tokens=args.tokens,
        word_lm_path=args.word_lm_path,
        beam_size=args.beam_size,
        top_n=args.top_n,
        acoustic_scale=args.acoustic_scale,
        alpha_ngram=args.alpha_ngram,
        word_score=args.word_score,
        beam_prune_threshold=args.beam_prune_threshold,
        beam_size_token=args.beam_size_token,
        temperature=args.temperature,
        pad_frames=args.pad_frames,
        unk_score=args.unk_score,
        sil_score=args.sil_score,
        log_add=args.log_add,
        max_samples=args.limit,
        trial_indices=args.trial_indices,
        partition=args.partition,
        merge_order=args.merge_order,
        source_names=args.source_names,
        num_workers=args.num_workers,
        shard_index=args.shard_index,
        num_shards=args.num_shards,
        resume=args.resume,
        progress=not args.quiet,
    )


def _lock_target(cfg: GenerateConfig, merge: bool) -> Path:
    """What a run writes alone: the output, or (one shard of several, which run side by side) its shard of it."""
    if cfg.num_shards > 1 and not merge:
        return Path(f"{cfg.output_path}.shard-{cfg.shard_index}-of-{cfg.num_shards}")
    return Path(cfg.output_path)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    with output_lock(_lock_target(cfg, args.merge)):
        _check_outputs(args)
        try:
            if args.merge:
                merge_shards(cfg)
            else:
                generate(cfg)
        except InterruptedWhenComplete:
            print(f"interrupted once the output was complete: {cfg.output_path} is written", file=sys.stderr)
            return 130
        except KeyboardInterrupt:
            print(
                f"interrupted: finished trials are kept in {work_dir(cfg)}; rerun the same command to continue",
                file=sys.stderr,
            )
            return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``recipes/generate_dataset.py``), with the CLI's one-line errors."""
    parser = Parser(prog="generate_dataset", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (InputError, OSError) as e:
        if debug_enabled():
            raise
        print(f"generate: error: {e}", file=sys.stderr)
        return 2
