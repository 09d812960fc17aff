"""The ``corrector`` command line: one sub-command per stage, each in the module of its concept.

Each entry names a module with ``add_arguments(parser)`` and ``run(args) -> int``; modules are
imported only when their command runs, so ``corrector --help`` stays fast. Every parser is a
``corrector.cli._args.Parser``: ``--flag-name`` and ``--flag_name`` both work, boolean flags
take ``--x`` / ``--no-x`` / ``--x false``, and defaults show in the help.

A user error (bad input, a refused output, a model that cannot be found) ends with one line and
status 2; ``--debug`` (or ``CORRECTOR_DEBUG=1``) shows the full traceback instead. A Ctrl-C ends
with one line and status 130, and is never lost (``_noting_ctrl_c``).

The command line may import every stage; within the package only the demo imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from corrector import __version__
from corrector.cli._args import Parser
from corrector.errors import InputError, debug_enabled

COMMANDS: dict[str, tuple[str, str]] = {
    "stats": ("corrector.cli.stats", "per file: trials, unique candidates, baseline WERs"),
    "convert": ("corrector.cli.convert", "move N-best files between formats or into a saved DatasetDict"),
    "push": (
        "corrector.cli.push",
        "upload a saved N-best dataset or a trained model to the Hugging Face Hub, with its card",
    ),
    "generate": ("corrector.cli.generate", "N-best lists from encoder logits: lexicon CTC beam search + KenLM"),
    "evaluate": (
        "corrector.cli.evaluate",
        "held-out WER of a corrector beside candidate 1, majority vote, oracles",
    ),
    "correct": ("corrector.cli.correct", "correct N-best lists of new data with a trained corrector (JSONL out)"),
}
DEBUG_HELP = "show full tracebacks instead of one-line errors (or set CORRECTOR_DEBUG=1)"


class _LazyParser(Parser):
    """Sub-parser whose arguments are added by its module when it is first used."""

    def __init__(self, *args, module: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self._module, self._ready = module, False

    def _load(self):
        if not self._ready:
            self._ready = True
            mod = importlib.import_module(self._module)
            mod.add_arguments(self)
            self.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
            self.set_defaults(_run=mod.run)

    def parse_known_args(self, args=None, namespace=None):
        self._load()
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:  # here, so the message comes with this command's usage rather than the top level's
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def format_help(self):
        self._load()
        return super().format_help()

    def format_usage(self):
        self._load()
        return super().format_usage()


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="corrector",
        description="LLM correction of brain-to-text N-best lists. Every --flag-name is also accepted as --flag_name.",
    )
    parser.add_argument("--version", action="version", version=f"corrector {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_LazyParser)
    for name, (module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text, module=module)
    return parser


@contextlib.contextmanager
def _noting_ctrl_c(owns_process: bool) -> Iterator[list[int]]:
    """While a command runs, Ctrl-C raises ``KeyboardInterrupt`` as usual and is also noted, so that one
    swallowed on its way (in a destructor, say) still ends the command as interrupted.

    Afterwards the previous handler is back; when ``main`` is the program (``owns_process``), the default
    action instead, so that a Ctrl-C while the interpreter shuts down ends the process by the signal rather
    than being lost. A SIGINT ignored by whoever started the process stays ignored.
    """
    seen: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler or threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def note(signum: int, frame: Any) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, note)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if owns_process else previous)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.debug or debug_enabled()
    with _noting_ctrl_c(owns_process=argv is None) as ctrl_c:
        try:
            code = int(args._run(args) or 0)
        except (InputError, OSError) as e:
            # Bad input or an unusable file, folder or network: one line naming it, no traceback.
            if debug:
                raise
            print(f"corrector {args.command}: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            if debug:
                raise
            print(f"corrector {args.command}: interrupted", file=sys.stderr)
            return 130
        if ctrl_c and code == 0:  # a Ctrl-C that something swallowed: the run was still interrupted
            print(f"corrector {args.command}: interrupted", file=sys.stderr)
            return 130
        return code


if __name__ == "__main__":
    sys.exit(main())
