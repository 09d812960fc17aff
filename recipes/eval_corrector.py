"""Evaluate a corrector against candidate 1, majority vote, LLM rescoring and the oracles on a held-out partition.

python recipes/eval_corrector.py [--config recipes/configs/eval_smollm2_cpu.yaml] [--model outputs/... ...]
"""

from pathlib import Path

from corrector.cli.evaluate import main

if __name__ == "__main__":
    main(config=Path(__file__).parent / "configs" / "eval_smollm2_cpu.yaml")
