"""Decoding: phoneme logits to N-best lists. Units and tokens (``units``), the pronunciation lexicon
(``lexicon``), KenLM word n-grams (``lm``), logits files (``logits``), the lexicon-constrained CTC
beam search (``decoder``), the resumable multi-process job (``generate``), and the simulated decoder
and sentence corpus of the demo (``simulate``, ``corpus``).

Imports the shared bottom and ``corrector.data``.
"""
