"""Data: N-best files in and out (``formats``), pooling several decoders' lists by trial (``pooling``),
prompt templates (``prompts``), fitting prompts to a context (``length_guard``) and Hugging Face
``datasets`` objects, their cards and the Hub (``datasets``).

Imports only the shared bottom (``corrector.nbest``, ``errors``, ``files``, ``metrics``, ``hub``).
"""
