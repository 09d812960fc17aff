"""Correction: turning an N-best list into one sentence. The result record (``result``), the vote
gate and its calibration (``gate``), the generative corrector and its backends (``inference``), the
reward-model selection corrector (``selection``), log-probability scoring (``scoring``) and zero-shot
LLM rescoring (``rescoring``).

Imports the shared bottom and ``corrector.data``.
"""
