"""Pooling: the N-best lists of the same trial from several decoders (files or datasets) as one list.

Published correctors (DCoND-LIFT, LISA) read several decoders' outputs at once, and a vote over
the pooled candidates beats every single decoder's vote. ``pool`` joins the inputs trial by trial
(by trial id where every input has real ids, by position otherwise), keeps each candidate's
origin in ``Candidate.source`` (``"input"`` or ``"input:original source"``), and refuses inputs
that do not describe the same trials.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from corrector.errors import InputError
from corrector.metrics import normalize
from corrector.nbest import SOURCE_SEP, Candidate, NBestList


def input_names(paths: Sequence[str | Path]) -> list[str]:
    """Short, distinct names for pooled inputs: file stems, or whole paths where stems collide."""
    stems = [Path(p).stem if Path(p).suffix else Path(p).name for p in paths]
    return [s if stems.count(s) == 1 else str(p) for s, p in zip(stems, paths)]


def _positional(records: Sequence[NBestList]) -> bool:
    """Whether a file's trial ids are just its row positions (the chat JSONL carries none)."""
    return all(r.trial_id == str(i) for i, r in enumerate(records))


def _relabel(c: Candidate, name: str) -> Candidate:
    return replace(c, source=f"{name}{SOURCE_SEP}{c.source}" if c.source else name)


def pool(inputs: Sequence[tuple[str, Sequence[NBestList]]]) -> list[NBestList]:
    """One list per trial: the candidates of every input in the order given, each input's in rank order.

    ``inputs`` are ``(name, records)`` pairs. Trials are joined by id, or by position when every
    input's ids are positions. Errors (``InputError``) name the trial and the two inputs: different
    trial counts or ids, ground truths that differ (after normalisation), partitions that differ, or
    an input given twice, by name or as a copy (the same lists: pooling a list with itself doubles every vote).
    """
    if len(inputs) < 2:
        raise InputError(f"pooling needs at least two inputs, got {len(inputs)}")
    names = [name for name, _ in inputs]
    contents: dict[tuple, str] = {}
    for i, (name, recs) in enumerate(inputs):
        if name in names[:i]:
            raise InputError(f"{name} is given twice; pooling a list with itself doubles every vote")
        content = tuple(sorted((r.partition or "", r.trial_id, tuple(r.texts)) for r in recs))
        if content in contents:
            raise InputError(
                f"{name} holds the same lists as {contents[content]} (a copy?); pooling a list with itself "
                "doubles every vote"
            )
        contents[content] = name
    (first, base), rest = inputs[0], inputs[1:]  # trials are (partition, trial id); a split's ids may restart
    for name, recs in rest:
        if len(recs) != len(base):
            raise InputError(
                f"{first} has {len(base)} trials but {name} has {len(recs)}; pooled inputs need the same trials"
            )
    by_position = any(_positional(recs) for _, recs in inputs)
    tables = []
    for name, recs in inputs:
        if by_position:
            tables.append(list(recs))
            continue
        table = {(r.partition, r.trial_id): r for r in recs}
        if len(table) != len(recs):
            raise InputError(f"{name}: trial ids repeat within a partition; cannot pool by id")
        tables.append(table)
    out = []
    for pos, ref in enumerate(base):
        key = pos if by_position else (ref.partition, ref.trial_id)
        cands: list[Candidate] = []
        truth, partition = ref.ground_truth, ref.partition
        for (name, _), table in zip(inputs, tables):
            r = table[key] if by_position else table.get(key)
            if r is None:
                elsewhere = sorted(str(p) for p, t in table if t == ref.trial_id)
                where = f" (it is in partition {', '.join(elsewhere)} there)" if elsewhere else ""
                raise InputError(
                    f"trial {ref.trial_id} (partition {ref.partition}) of {first} is missing from {name}{where}"
                )
            if r.ground_truth is not None and truth is not None and normalize(r.ground_truth) != normalize(truth):
                raise InputError(
                    f"trial {ref.trial_id}: ground truth differs between {first} ({truth!r}) and {name} "
                    f"({r.ground_truth!r}); are these the same trials in the same order?"
                )
            if r.partition and partition and r.partition != partition:
                raise InputError(
                    f"trial {ref.trial_id}: partition {partition!r} in {first} but {r.partition!r} in {name}"
                )
            truth = truth if truth is not None else r.ground_truth
            partition = partition or r.partition
            cands += [_relabel(c, name) for c in r.candidates]
        out.append(NBestList(ref.trial_id, tuple(cands), truth, partition, {"pooled": list(names)}))
    return out


def pool_sources(sources: Sequence[str | Path], partition: str | None = None) -> list[NBestList]:
    """Pool N-best files or saved datasets (anything ``corrector.data.datasets.load_records`` reads)."""
    from corrector.data.datasets import load_records

    resolved = [str(Path(s).resolve()) if Path(s).exists() else str(s) for s in sources]
    for i, r in enumerate(resolved):
        if r in resolved[:i]:
            raise InputError(f"{sources[i]} is given twice; pooling a list with itself doubles every vote")
    names = input_names(sources)
    return pool([(name, load_records(src, partition)) for name, src in zip(names, sources)])


def load_inputs(
    sources: Sequence[str | Path], partition: str | None = None, pool_them: bool = False
) -> list[NBestList]:
    """The records of several inputs: pooled by trial (``pool_them``), else one after another."""
    from corrector.data.datasets import load_records

    if pool_them:
        return pool_sources(sources, partition)
    return [r for s in sources for r in load_records(s, partition)]
