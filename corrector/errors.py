"""The error type for bad input: its message names the file, line or trial and says what to do."""


class InputError(ValueError):
    """Bad user input. The CLI prints it as one line (no traceback) and exits with status 2."""
