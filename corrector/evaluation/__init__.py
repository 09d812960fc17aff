"""Evaluation: scoring systems side by side on a held-out partition (``systems``), the word-level
ROVER vote (``rover``), icefall-style reports (``reports``), the ``report.html`` error browser
(``page``) and the WERs an evaluation adds to a trained model's card (``card``).

Imports the shared bottom, ``corrector.data``, ``corrector.correction`` and ``corrector.training`` (the model card).
"""
