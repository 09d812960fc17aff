"""The ``corrector`` command line: one sub-command per stage, each in the module of its concept.

Each entry names a module with ``add_arguments(parser)`` and ``run(args) -> int``; modules are
imported only when their command runs, so ``corrector --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from corrector.errors import InputError

COMMANDS: dict[str, tuple[str, str]] = {
    "stats": ("corrector.commands.stats", "per file: trials, unique candidates, baseline WERs"),
    "convert": ("corrector.commands.convert", "move N-best files between formats or into a saved DatasetDict"),
    "push": ("corrector.commands.push", "upload a saved N-best dataset to the Hugging Face Hub with a dataset card"),
    "generate": ("corrector.commands.generate", "N-best lists from encoder logits: lexicon CTC beam search + KenLM"),
    "evaluate": (
        "corrector.commands.evaluate",
        "held-out WER of a corrector beside candidate 1, majority vote, oracles",
    ),
    "correct": ("corrector.commands.correct", "correct N-best lists of new data with a trained corrector (JSONL out)"),
}


class _LazyParser(argparse.ArgumentParser):
    """Sub-parser whose arguments are added by its module when it is first used."""

    def __init__(self, *args, module: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self._module, self._ready = module, False

    def _load(self):
        if not self._ready:
            self._ready = True
            mod = importlib.import_module(self._module)
            mod.add_arguments(self)
            self.set_defaults(_run=mod.run)

    def parse_known_args(self, args=None, namespace=None):
        self._load()
        return super().parse_known_args(args, namespace)

    def format_help(self):
        self._load()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="corrector", description="LLM correction of brain-to-text N-best lists.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_LazyParser)
    for name, (module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text, module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (InputError, FileNotFoundError) as e:
        # Bad input: one line naming the file / line / trial, no traceback.
        print(f"corrector {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
