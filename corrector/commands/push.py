"""``corrector push``: upload a saved N-best ``DatasetDict`` to the Hugging Face Hub with a dataset card."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from corrector.data import META_FILE, load_dataset_dict, push_to_hub, write_hub_folder
from corrector.prompts import PromptConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="saved dataset folder (corrector convert --to dataset / corrector generate)")
    p.add_argument("repo_id", help="Hub dataset repository, e.g. user/b2t24-nbest")
    p.add_argument("--public", action="store_true", help="make the repository public (default: private)")
    p.add_argument("--token", help="Hub token (default: the logged-in one / HF_TOKEN)")
    p.add_argument("--dry-run", metavar="FOLDER", help="write the exact folder that would be uploaded, and stop")


def run(args: argparse.Namespace) -> int:
    dd = load_dataset_dict(args.dataset)
    meta = Path(args.dataset) / META_FILE
    cfg = PromptConfig.from_dict(json.loads(meta.read_text())["prompt"]) if meta.is_file() else None
    if args.dry_run:
        write_hub_folder(dd, args.dry_run, cfg)
        print(f"wrote the upload folder to {args.dry_run} (load it with datasets.load_dataset)")
        return 0
    url = push_to_hub(dd, args.repo_id, private=not args.public, token=args.token, cfg=cfg)
    print(f"pushed {', '.join(f'{k}: {len(v)}' for k, v in dd.items())} trials to {url}")
    return 0
