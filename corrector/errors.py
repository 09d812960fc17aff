"""The error type for bad input: its message names the file, line or trial and says what to do."""

import os

DEBUG_ENV = "CORRECTOR_DEBUG"


class InputError(ValueError):
    """Bad user input. The CLI prints it as one line (no traceback) and exits with status 2."""


def debug_enabled() -> bool:
    """Whether full tracebacks are wanted instead of one-line errors (``CORRECTOR_DEBUG=1``, or ``--debug``)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")
