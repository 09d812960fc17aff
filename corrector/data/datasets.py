"""N-best records as Hugging Face ``datasets``: build, save, export, load back, push to the Hub."""

from __future__ import annotations

import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import datasets

from corrector.data.formats import STDIN, NBestFormatError, read_nbest, to_format
from corrector.data.prompts import PromptConfig
from corrector.files import MARKER, FolderKind, atomic_dir, atomic_write
from corrector.metrics import baseline_wers
from corrector.nbest import NBestList

_MSG = [{"role": datasets.Value("string"), "content": datasets.Value("string")}]
FEATURES = datasets.Features(
    {
        "trial_id": datasets.Value("string"),
        "partition": datasets.Value("string"),
        "input_beams": datasets.Sequence(datasets.Value("string")),
        "scores": datasets.Sequence(datasets.Value("float64")),
        "am_scores": datasets.Sequence(datasets.Value("float64")),
        "lm_scores": datasets.Sequence(datasets.Value("float64")),
        "sources": datasets.Sequence(datasets.Value("string")),
        "ground_truth": datasets.Value("string"),
        "instruction": datasets.Value("string"),
        "formatted_input": datasets.Value("string"),
        "prompt": _MSG,
        "completion": _MSG,
    }
)
META_FILE = "corrector.json"
DATASET = FolderKind("saved dataset")
NBEST_SUFFIXES = (".jsonl", ".json")  # the files a folder of N-best files holds
ALL = "all"  # the partition name that selects every record
_SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}


def to_row(nbest: NBestList, cfg: PromptConfig) -> dict[str, Any]:
    """A record with its prompt rendered: the seed's columns plus TRL ``prompt``/``completion`` messages."""
    row = to_format(nbest, "seed", cfg)
    chat = to_format(nbest, "chat", cfg)
    row["prompt"] = chat["prompt"]
    row["completion"] = chat.get("completion", [])
    return row


def to_dataset(records: Sequence[NBestList], cfg: PromptConfig | None = None) -> datasets.Dataset:
    cfg = cfg or PromptConfig()
    return datasets.Dataset.from_list([to_row(r, cfg) for r in records], features=FEATURES)


def every_kth(
    records: Sequence[NBestList], k: int = 5, held_out: str = "test", rest: str = "train"
) -> list[NBestList]:
    """Fixed split by position: every k-th trial (the 1st, 6th, 11th, ... for k=5) is held out (k=1: all)."""
    if k < 1:
        raise ValueError(f"hold out every k-th trial needs k of at least 1, got {k}")
    return [r.with_partition(held_out if i % k == 0 else rest) for i, r in enumerate(records)]


def build_dataset_dict(records: Sequence[NBestList], cfg: PromptConfig | None = None) -> datasets.DatasetDict:
    """One split per partition name (records without one go to ``train``), trial order kept.

    Splits come as train, validation, test, then others in order of appearance.
    """
    groups: dict[str, list[NBestList]] = defaultdict(list)
    for r in records:
        groups[r.partition or "train"].append(r if r.partition else r.with_partition("train"))
    order = sorted(groups, key=lambda name: _SPLIT_ORDER.get(name, len(_SPLIT_ORDER)))  # stable: others keep order
    return datasets.DatasetDict({name: to_dataset(groups[name], cfg) for name in order})


def records_of(ds: datasets.Dataset) -> list[NBestList]:
    return [NBestList.from_row(row) for row in ds]


def saved_prompt(source: str | Path) -> PromptConfig | None:
    """The prompt config saved with a dataset folder (``corrector.json``), or None for anything else."""
    meta = Path(source) / META_FILE
    if not meta.is_file():
        return None
    try:
        return PromptConfig.from_dict(json.loads(meta.read_text())["prompt"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise NBestFormatError(f"{meta}: no readable prompt config ({e})") from None


def summary(dd: datasets.DatasetDict) -> dict[str, Any]:
    """Per split: trials, candidates per trial and baseline WERs (where ground truth exists), rounded to 0.01."""
    out = {}
    for name, ds in dd.items():
        recs = records_of(ds)
        n = [len(r) for r in recs]
        info: dict[str, Any] = {"trials": len(recs), "max_candidates": max(n, default=0)}
        if any(r.ground_truth for r in recs):
            info["wer"] = {k: round(v, 2) for k, v in baseline_wers(recs).items()}
        out[name] = info
    return out


def save(
    dd: datasets.DatasetDict,
    path: str | Path,
    cfg: PromptConfig | None = None,
    also: Callable[[Path], Any] | None = None,
    **meta: Any,
) -> Path:
    """``save_to_disk`` into ``path`` atomically, with ``corrector.json`` (prompt config, summary, ``meta``).

    ``also`` writes more files into the folder before it goes into place (e.g. generate's JSONL).
    An existing ``path`` is replaced as a whole, and only if it is a saved dataset the project wrote (or empty).
    """
    path = Path(path)
    with atomic_dir(path, DATASET) as tmp:
        dd.save_to_disk(str(tmp))
        info = {"prompt": (cfg or PromptConfig()).to_dict(), "splits": summary(dd), **meta}
        (tmp / META_FILE).write_text(json.dumps(info, indent=2) + "\n")
        if also is not None:
            also(tmp)
    return path


def export_jsonl(dd: datasets.DatasetDict, folder: str | Path, fmt: str = "seed") -> list[Path]:
    """One ``{split}.jsonl`` per split in ``fmt`` (seed columns by default)."""
    from corrector.data.formats import write_nbest

    out = []
    for name, ds in dd.items():
        out.append(write_nbest(records_of(ds), Path(folder) / f"{name}.jsonl", fmt=fmt))
    return out


def export_parquet(dd: datasets.DatasetDict, folder: str | Path) -> list[Path]:
    out = []
    for name, ds in dd.items():
        dest = Path(folder) / f"{name}.parquet"
        with atomic_write(dest, "wb") as f:
            ds.to_parquet(f)
        out.append(dest)
    return out


def dataset_card(dd: datasets.DatasetDict, cfg: PromptConfig | None = None, title: str = "corrector N-best") -> str:
    """README.md with a YAML header (configs, split sizes) and a table of baseline WERs per split."""
    cfg = cfg or PromptConfig()
    info = summary(dd)
    header = {
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in dd],
            }
        ],
        "dataset_info": {
            "splits": [{"name": s, "num_bytes": dd[s].data.nbytes, "num_examples": info[s]["trials"]} for s in dd]
        },
        "tags": ["brain-to-text", "asr-error-correction", "n-best", "corrector"],
        "task_categories": ["text-generation"],
    }
    import yaml

    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {title}",
        "",
        "N-best lists of a brain-to-text decoder with ground truth, made with `corrector` for training "
        "generative error-correction LLMs.",
        "",
        f"Prompt template: `{cfg.template}` (options: {json.dumps(cfg.to_dict())}).",
        "",
        "| split | trials | N (max candidates) | candidate 1 WER % | majority vote WER % | oracle WER % |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s, i in info.items():
        w = i.get("wer", {})
        cells = [f"{w[k]:.2f}" if k in w else "-" for k in ("candidate_1", "majority_vote", "oracle")]
        lines.append(f"| {s} | {i['trials']} | {i['max_candidates']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "WER is scored after normalisation (lower case, punctuation except apostrophes removed, "
        "hyphens to spaces, whitespace collapsed).",
        "",
    ]
    return "\n".join(lines)


HUB_FOLDER = FolderKind("Hub upload folder")


def write_hub_folder(dd: datasets.DatasetDict, folder: str | Path, cfg: PromptConfig | None = None) -> Path:
    """The exact folder ``push_to_hub`` uploads: ``README.md`` and ``data/{split}-00000-of-00001.parquet``.

    Written as a whole: an earlier upload folder there is replaced, any other non-empty folder refused.
    Its ownership marker (``corrector.files.MARKER``) is not uploaded.
    """
    folder = Path(folder)
    with atomic_dir(folder, HUB_FOLDER) as tmp:
        (tmp / "data").mkdir()
        for name, ds in dd.items():
            ds.to_parquet(str(tmp / "data" / f"{name}-00000-of-00001.parquet"))
        (tmp / "README.md").write_text(dataset_card(dd, cfg))
    return folder


def push_to_hub(
    dd: datasets.DatasetDict,
    repo_id: str,
    private: bool = True,
    token: str | None = None,
    cfg: PromptConfig | None = None,
    api: Any = None,
) -> str:
    """Create the dataset repo if needed and upload the card and parquet splits in one commit."""
    from huggingface_hub import HfApi

    api = api or HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_hub_folder(dd, tmp, cfg)
        (Path(tmp) / MARKER).unlink()
        api.upload_folder(
            repo_id=repo_id, repo_type="dataset", folder_path=tmp, commit_message="Upload corrector N-best dataset"
        )
    return f"https://huggingface.co/datasets/{repo_id}"


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_FILE_SUFFIXES = {".jsonl", ".json", ".parquet", ".txt", ".csv"}


def nbest_files(folder: str | Path) -> list[Path]:
    """The N-best files (``.jsonl``, ``.json``) directly in a folder that is not a saved dataset, by name."""
    folder = Path(folder)
    if not folder.is_dir() or (folder / "dataset_dict.json").is_file() or (folder / "dataset_info.json").is_file():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in NBEST_SUFFIXES and p.name != META_FILE)


def load_dataset_dict(source: str | Path) -> datasets.DatasetDict:
    """A saved ``DatasetDict`` folder, an N-best file (any readable format; ``-``: standard input), a Hub
    folder or a Hub id.

    A folder of N-best files is refused in one line: read as one split, its files' lists would mix.
    """
    p = Path(source)
    if str(source) == STDIN:
        return build_dataset_dict(read_nbest(STDIN))
    if (p / "dataset_dict.json").is_file():
        return datasets.load_from_disk(str(p))
    if (p / "dataset_info.json").is_file():
        return datasets.DatasetDict({"train": datasets.load_from_disk(str(p))})
    if p.is_dir():
        files = nbest_files(p)
        if len(files) == 1:
            raise NBestFormatError(f"{source}: a folder, not a saved dataset; give the N-best file {files[0]} itself")
        if files:
            raise NBestFormatError(
                f"{source}: a folder of {len(files)} N-best files, not a saved dataset; give the files themselves "
                f"({files[0]} ...), with --pool to join their lists by trial"
            )
        if not any(p.iterdir()):
            raise NBestFormatError(f"{source}: an empty folder; give an N-best file or a saved dataset folder")
    elif p.exists():  # a file, or a pipe or device such as /dev/stdin
        return build_dataset_dict(read_nbest(p))
    if p.exists() or (_HUB_ID.match(str(source)) and p.suffix.lower() not in _FILE_SUFFIXES):
        from corrector.hub import go_offline_if_unreachable

        if not p.exists():
            go_offline_if_unreachable()  # else datasets retries an unreachable Hub for about a minute
        try:
            dd = datasets.load_dataset(str(source))
        except (ConnectionError, FileNotFoundError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if p.exists():
                raise NBestFormatError(
                    f"{source}: a folder with no N-best files, saved dataset or Hub dataset files ({first})"
                ) from None
            raise NBestFormatError(
                f"{source}: no such file or folder, and not a reachable Hub dataset ({first})"
            ) from None
        return dd if isinstance(dd, datasets.DatasetDict) else datasets.DatasetDict({"train": dd})
    raise NBestFormatError(f"{source}: no such file, saved dataset folder or Hub dataset id")


def load_records(source: str | Path, partition: str | None = None) -> list[NBestList]:
    """Records of one partition (None or ``all``: every one, in split order) from anything ``load_dataset_dict`` reads."""
    dd = load_dataset_dict(source)
    if partition in (None, ALL):
        return [r for ds in dd.values() for r in records_of(ds)]
    if partition not in dd:
        raise NBestFormatError(f"{source}: no partition {partition!r}; it has {', '.join(dd)} (or choose {ALL})")
    return records_of(dd[partition])
