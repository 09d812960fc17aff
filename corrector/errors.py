"""The error type for bad input: its message names the file, line or trial and says what to do."""

import json
import os

DEBUG_ENV = "CORRECTOR_DEBUG"


class InputError(ValueError):
    """Bad user input. The CLI prints it as one line (no traceback) and exits with status 2."""


def debug_enabled() -> bool:
    """Whether full tracebacks are wanted instead of one-line errors (``CORRECTOR_DEBUG=1``, or ``--debug``)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def json_problem(e: json.JSONDecodeError) -> str:
    """What is wrong with a JSON text, in words: "Unterminated string starting at column 25; the text ends early: …"."""
    where = f"{e.msg} {'' if e.msg.endswith(' at') else 'at '}line {e.lineno} column {e.colno}"
    if e.lineno == 1:
        where = where.replace("line 1 column", "column")
    if not e.doc[e.pos :].strip() or e.msg.startswith("Unterminated"):
        where += "; the text ends early: a truncated file?"
    return where
