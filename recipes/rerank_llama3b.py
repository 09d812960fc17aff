"""Llama-3.2-3B-Instruct selection corrector: a LoRA reward model in bf16 (one 24 GB GPU).

accelerate launch --config_file accelerate_configs/single_gpu.yaml recipes/rerank_llama3b.py
"""

from pathlib import Path

from corrector.training.reward import run

if __name__ == "__main__":
    run(config=Path(__file__).parent / "configs" / "rerank_llama3b.yaml")
