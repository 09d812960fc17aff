"""Evaluation: scoring systems side by side on a held-out partition (``systems``), the word-level
ROVER vote (``rover``) and icefall-style reports (``reports``).

Imports the shared bottom, ``corrector.data`` and ``corrector.correction``.
"""
