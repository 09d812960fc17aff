"""Where the benchmarks find the real Brain-to-Text '24 N-best lists (``../shared`` beside the checkout)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
B2T24_DIR = Path(os.environ.get("CORRECTOR_B2T_DIR", ROOT.parent / "shared" / "data" / "b2t24_val_nbest"))
B2T24_BI = B2T24_DIR / "val_b2t_24_bi.jsonl"
