"""``corrector push``: upload a saved N-best ``DatasetDict`` to the Hugging Face Hub with a dataset card."""

from __future__ import annotations

import argparse

from corrector.cli._args import add_overwrite
from corrector.errors import InputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="saved dataset folder (corrector convert --to dataset / corrector generate)")
    p.add_argument("repo_id", help="Hub dataset repository, e.g. user/b2t24-nbest")
    p.add_argument("--public", action="store_true", help="make the repository public (default: private)")
    p.add_argument("--token", help="Hub token (default: the logged-in one / HF_TOKEN)")
    p.add_argument(
        "--dry-run", metavar="FOLDER", help="write the exact folder that would be uploaded, and stop (default: upload)"
    )
    add_overwrite(p, "replace an earlier --dry-run folder")


def _is_network_error(e: Exception) -> bool:
    return isinstance(e, OSError) or type(e).__module__.startswith(("httpx", "huggingface_hub"))


def run(args: argparse.Namespace) -> int:
    from corrector import hub
    from corrector.data.datasets import HUB_FOLDER, load_dataset_dict, push_to_hub, saved_prompt, write_hub_folder
    from corrector.files import check_output

    if args.dry_run:
        check_output(args.dry_run, inputs=[args.dataset], overwrite=args.overwrite, kind=HUB_FOLDER)
    elif not hub.hub_reachable():
        raise InputError(
            f"cannot reach the Hugging Face Hub at {hub.endpoint()} (no network, or HF_HUB_OFFLINE is set); "
            "nothing was uploaded. Preview the upload with --dry-run FOLDER"
        )
    dd = load_dataset_dict(args.dataset)
    cfg = saved_prompt(args.dataset)
    if args.dry_run:
        write_hub_folder(dd, args.dry_run, cfg)
        print(f"wrote the upload folder to {args.dry_run} (load it with datasets.load_dataset)")
        return 0
    try:
        url = push_to_hub(dd, args.repo_id, private=not args.public, token=args.token, cfg=cfg)
    except Exception as e:
        if not _is_network_error(e):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"upload to {args.repo_id} failed: {first}") from None
    print(f"pushed {', '.join(f'{k}: {len(v)}' for k, v in dd.items())} trials to {url}")
    return 0
