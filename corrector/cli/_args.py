"""One command-line language for every ``corrector`` parser (sub-commands and the recipes' own).

``Parser`` accepts each ``--flag-name`` also as ``--flag_name``; turns every ``store_true`` /
``store_false`` option into a ``Flag`` that takes ``--plot``, ``--no-plot``, ``--plot false`` and
``--plot=true``; shows each option's default in its help; and takes no abbreviations (one that
works today would break when a flag is added); unknown arguments are reported with the
sub-command's own usage (``corrector.cli``). Options added later get all of this without a line of
their own. The number types (``positive_int`` ...) check values at parse time; ``add_overwrite``
and ``add_limit`` add the options every command that writes or reads trials shares.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from corrector.files import OVERWRITE_FLAG

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def to_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _partner(option: str) -> str:
    return f"--{option[5:]}" if option.startswith("--no-") else f"--no-{option[2:]}"


class Flag(argparse.Action):
    """A boolean option and its negation: ``--plot`` / ``--no-plot`` (``--no-resume`` / ``--resume``)."""

    def __init__(self, option_strings: Sequence[str], dest: str, default: Any = False, const: bool = True, **kw):
        negated = [_partner(s) for s in option_strings if s.startswith("--")]
        super().__init__([*option_strings, *negated], dest, nargs=0, const=const, default=default, **kw)
        self.negated = set(negated)

    def value_of(self, option: str) -> bool:
        return self.const if option not in self.negated else not self.const

    def spelling(self, option: str, value: bool) -> str:
        """The option string (``option`` or its partner) that sets ``value``."""
        return option if self.value_of(option) == value else _partner(option)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, self.value_of(option_string))

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


class _FlagFalse(Flag):
    def __init__(self, option_strings: Sequence[str], dest: str, default: Any = True, **kw):
        super().__init__(option_strings, dest, default=default, const=False, **kw)


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: …)`` to every option's help that does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, argparse.SUPPRESS) or not action.option_strings:
            return text
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            return text
        shown = ("on" if action.default else "off") if isinstance(action, Flag) else "%(default)s"
        return f"{text} (default: {shown})"


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` speaking the project's command-line language (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)  # an abbreviation that works today breaks when a flag is added
        super().__init__(*args, **kwargs)
        self.register("action", "store_true", Flag)
        self.register("action", "store_false", _FlagFalse)

    def _option(self, name: str) -> argparse.Action | None:
        return self._option_string_actions.get(name)

    def normalise(self, args: Sequence[str]) -> list[str]:
        """``--a_b`` → ``--a-b``; ``--flag false`` / ``--flag=false`` → the spelling that sets that value."""
        args, out, i = list(args), [], 0
        while i < len(args):
            arg = args[i]
            i += 1
            if arg == "--":
                out += args[i - 1 :]
                break
            if not arg.startswith("--"):
                out.append(arg)
                continue
            name, eq, value = arg.partition("=")
            name = name.replace("_", "-")
            action = self._option(name)
            if not isinstance(action, Flag):
                out.append(name + eq + value)
                continue
            word = value if eq else None
            if word is None and i < len(args) and args[i].lower() in (*TRUE_WORDS, *FALSE_WORDS):
                word, i = args[i], i + 1
            if word is not None:
                try:
                    name = action.spelling(name, to_bool(word))
                except argparse.ArgumentTypeError as e:
                    self.error(f"argument {name}: {e}")
            out.append(name)
        return out

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else args
        return super().parse_known_args(self.normalise(args), namespace)


# --- numbers checked at parse time --------------------------------------------------------------


def _bounded(kind: type, low: float, strict: bool, words: str) -> Callable[[Any], Any]:
    def check(text: Any) -> Any:
        try:
            value = kind(text)
            if kind is int and isinstance(text, float) and text != value:
                raise ValueError
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}") from None
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"must be {words}, got {text}")
        return value

    check.__name__ = words.replace(" ", "_")
    return check


positive_int = _bounded(int, 1, False, "an integer of at least 1")
non_negative_int = _bounded(int, 0, False, "an integer of at least 0")
positive_float = _bounded(float, 0.0, True, "a number above 0")
non_negative_float = _bounded(float, 0.0, False, "a number of at least 0")


# --- options shared by the commands -------------------------------------------------------------


def add_overwrite(p: argparse.ArgumentParser, help: str = "replace an existing output") -> None:
    p.add_argument(
        OVERWRITE_FLAG,
        action="store_true",
        help=f"{help} (a folder only as a whole, and only one of the project's own: never a foreign folder)",
    )


def add_limit(p: argparse.ArgumentParser, what: str = "trials") -> None:
    p.add_argument("--limit", type=positive_int, metavar="N", help=f"read only the first N {what} (default: all)")


def load_corrector(args: Any, saved: Any, records: Sequence[Any]) -> Any:
    """The ``Corrector`` that ``correct``'s and ``evaluate``'s model options name.

    First says (before any weights load) how many of ``records`` its context forces to cut or leave to
    ``too_long``; then notes a zero-shot template that overrides the dataset's (``saved``).
    """
    from corrector.correction.inference import Corrector, length_note

    note = length_note(args.model, args.base_model, args.template, saved, records, args.max_new_tokens)
    if note:
        print(note, file=sys.stderr)
    corrector = Corrector.from_pretrained(
        args.model,
        args.base_model,
        args.template,
        dtype=args.dtype,
        backend=args.backend,
        max_distance=args.max_distance,
        default_prompt=saved,
        gate=args.gate,
    )
    if corrector.checkpoint.kind == "base" and saved and args.template and args.template != saved.template:
        print(f"prompt template {args.template} overrides the dataset's {saved.template}", file=sys.stderr)
    return corrector
