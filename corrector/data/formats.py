"""Readers and writers for N-best files.

Formats:
  seed        JSONL rows ``trial_id, input_beams, ground_truth, instruction, formatted_input`` (the seed's output)
  chat        TRL conversational JSONL: ``prompt`` (user message listing numbered candidates after
              ``Candidates:``) and ``completion`` (assistant message with the ground truth)
  hyporadise  JSON list of ``{"input": [hypotheses...], "output": "truth"}``
  alpaca      export only: ``instruction, input, output`` (the seed's ``convert_to_instruction_format``)
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from corrector.data.prompts import PromptConfig, render, shown_candidates
from corrector.errors import InputError, json_problem
from corrector.files import atomic_write
from corrector.nbest import NBestList

READ_FORMATS = ("seed", "chat", "hyporadise")
WRITE_FORMATS = ("seed", "chat", "hyporadise", "alpaca")
DEFAULT_TEMPLATE = {"seed": "seed", "chat": "lift", "alpaca": "seed", "hyporadise": "hyporadise"}


class NBestFormatError(InputError):
    """A file that cannot be read as N-best lists; the message names the file and line."""


STDIN = "-"  # as an input: standard input (as an output: standard output)


def read_text(path: str | Path) -> str:
    """A whole input file as text: UTF-8, with or without a byte-order mark (many Windows tools write one).

    ``-`` reads standard input; so does a pipe or device path such as ``/dev/stdin`` (read once).
    """
    name = str(path)
    try:
        data = sys.stdin.buffer.read() if name == STDIN else Path(path).read_bytes()
    except FileNotFoundError:
        raise NBestFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NBestFormatError(f"{path}: a folder, not a file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise NBestFormatError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for no, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield no, line


def _json_line(path: str | Path, no: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise NBestFormatError(f"{path}:{no}: malformed JSON ({json_problem(e)})") from None
    if not isinstance(row, dict):
        raise NBestFormatError(f"{path}:{no}: expected a JSON object, found {type(row).__name__}")
    return row


def detect_format(path: str | Path, text: str | None = None) -> str:
    """Guess a file's format from its first record (``text``: its content, if read already); one-line errors."""
    text = read_text(path) if text is None else text
    first = next(_lines(text), None)
    if first is None:
        raise NBestFormatError(f"{path}: file is empty")
    no, line = first
    if line.lstrip().startswith("["):
        return "hyporadise"
    row = _json_line(path, no, line)
    if "input_beams" in row:
        return "seed"
    if "prompt" in row:
        return "chat"
    if {"instruction", "input", "output"} <= set(row):
        raise NBestFormatError(
            f"{path}: alpaca rows (instruction/input/output) are an export format; read the seed JSONL instead"
        )
    raise NBestFormatError(
        f"{path}:{no}: unknown N-best format (keys {sorted(row)}); expected one of {', '.join(READ_FORMATS)}"
    )


_NUMBERED = re.compile(r"^\s*(\d+)[).]\s?(.*)$")
_SUFFIX = re.compile(r"^(.*?)(?: \((?:x(\d+))?(?:, )?(?:\d+ decoders?)?\))?(?: \[score (-?[\d.]+(?:e[-+]?\d+)?)\])?$")


def parse_candidates(content: str) -> tuple[list[str], list[float | None]]:
    """Numbered candidates (``1) text`` or ``1. text``) after ``Candidates:`` (or anywhere if absent).

    Suffixes written by this project's templates, ``(x3)``, ``(x3, 2 decoders)`` and ``[score -1.5]``,
    are read back: a count repeats the candidate, a score is kept (the decoder count is not a candidate).
    """
    _, sep, tail = content.partition("Candidates:")
    body = tail if sep else content
    texts: list[str] = []
    scores: list[float | None] = []
    for line in body.splitlines():
        m = _NUMBERED.match(line)
        if not m:
            continue
        s = _SUFFIX.match(m.group(2))
        text, count, score = s.group(1), int(s.group(2) or 1), s.group(3)
        texts += [text.strip()] * count
        scores += [float(score) if score else None] * count
    return texts, scores


def _message(row: dict, key: str, role: str) -> str | None:
    val = row.get(key)
    if isinstance(val, str):
        return val
    if isinstance(val, list):
        for msg in val:
            if isinstance(msg, dict) and msg.get("role") == role:
                return msg.get("content")
    return None


def _read_seed(path: str | Path, text: str) -> Iterator[NBestList]:
    for no, line in _lines(text):
        row = _json_line(path, no, line)
        beams = row.get("input_beams")
        if beams is None or not isinstance(beams, list):
            raise NBestFormatError(f"{path}:{no}: seed rows need a list 'input_beams'")
        for name in ("scores", "am_scores", "lm_scores", "sources"):
            vals = row.get(name)
            if vals is not None and (not isinstance(vals, list) or len(vals) != len(beams)):
                raise NBestFormatError(f"{path}:{no}: '{name}' must be a list with one value per beam ({len(beams)})")
        yield NBestList.from_row(
            {**row, "trial_id": row.get("trial_id", no - 1), "input_beams": [str(b) for b in beams]}
        )


def _read_chat(path: str | Path, text: str) -> Iterator[NBestList]:
    for i, (no, line) in enumerate(_lines(text)):
        row = _json_line(path, no, line)
        content = _message(row, "prompt", "user")
        if content is None:
            raise NBestFormatError(f"{path}:{no}: chat rows need a 'prompt' with a user message")
        texts, scores = parse_candidates(content)
        yield NBestList.from_texts(
            row.get("trial_id", i),
            texts,
            _message(row, "completion", "assistant"),
            row.get("partition") or None,
            scores=scores,
        )


def _read_hyporadise(path: str | Path, text: str) -> Iterator[NBestList]:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise NBestFormatError(f"{path}:{e.lineno}: malformed JSON ({json_problem(e)})") from None
    if not isinstance(rows, list):
        raise NBestFormatError(f"{path}: HyPoradise files hold a JSON list of objects")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("input"), list):
            raise NBestFormatError(f"{path}: item {i}: HyPoradise items need an 'input' list of hypotheses")
        yield NBestList.from_texts(
            row.get("id", i), [str(h) for h in row["input"]], row.get("output"), row.get("partition") or None
        )


_READERS = {"seed": _read_seed, "chat": _read_chat, "hyporadise": _read_hyporadise}


def read_nbest(path: str | Path, fmt: str | None = None) -> list[NBestList]:
    """All N-best lists of a file (``-``: standard input), in file order. ``fmt`` defaults to the detected format."""
    text = read_text(path)
    fmt = fmt or detect_format(path, text)
    if fmt not in _READERS:
        raise NBestFormatError(f"{path}: cannot read format {fmt!r}; readable: {', '.join(READ_FORMATS)}")
    records = list(_READERS[fmt](path, text))
    if not records:
        raise NBestFormatError(f"{path}: file is empty")
    return records


def to_format(nbest: NBestList, fmt: str, cfg: PromptConfig) -> dict[str, Any]:
    """One record as a row of ``fmt``, its prompt rendered with ``cfg``; a record's partition is kept as a field.

    HyPoradise rows list the candidates ``cfg`` shows (``top_n``, ``dedup``) without prompt text.
    """
    if fmt == "hyporadise":
        row = {"input": [c.text for c, _, _ in shown_candidates(nbest, cfg)], "output": nbest.ground_truth}
        row["id"] = nbest.trial_id
    elif fmt in ("seed", "chat", "alpaca"):
        p = render(nbest, cfg)
        if fmt == "seed":
            return {**nbest.to_row(), "instruction": p.instruction, "formatted_input": p.formatted_input}
        if fmt == "chat":
            row = {"trial_id": nbest.trial_id, "prompt": p.messages}
            if nbest.ground_truth is not None:
                row["completion"] = p.completion(nbest.ground_truth)
        else:
            row = {"instruction": p.instruction, "input": p.candidates_block, "output": nbest.ground_truth or ""}
    else:
        raise NBestFormatError(f"cannot write format {fmt!r}; writable: {', '.join(WRITE_FORMATS)}")
    if nbest.partition:
        row["partition"] = nbest.partition
    return row


def dump_nbest(
    records: Iterable[NBestList], f: IO[str], fmt: str = "seed", cfg: PromptConfig | None = None, as_list: bool = False
) -> None:
    """Write records as ``fmt`` rows to an open text stream: JSONL, or one JSON list with ``as_list``."""
    cfg = cfg or PromptConfig(template=DEFAULT_TEMPLATE.get(fmt, "lift"))
    rows = [to_format(r, fmt, cfg) for r in records]
    if as_list:
        json.dump(rows, f, ensure_ascii=False, indent=1)
        f.write("\n")
    else:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_nbest(
    records: Iterable[NBestList], path: str | Path, fmt: str = "seed", cfg: PromptConfig | None = None
) -> Path:
    """Write records as ``fmt`` atomically (``-``: to stdout). JSON list for hyporadise (and alpaca to ``.json``)."""
    as_list = fmt == "hyporadise" or (fmt == "alpaca" and Path(path).suffix == ".json")
    if str(path) == "-":
        dump_nbest(records, sys.stdout, fmt, cfg, as_list)
        return Path("-")
    path = Path(path)
    with atomic_write(path) as f:
        dump_nbest(records, f, fmt, cfg, as_list)
    return path
