"""Llama-3.2-1B-Instruct corrector: LoRA r16 on q/k/v/o in bf16 (one 16 GB GPU).

accelerate launch --config_file accelerate_configs/single_gpu.yaml recipes/sft_llama1b.py
"""

from pathlib import Path

from corrector.training.sft import run

if __name__ == "__main__":
    run(config=Path(__file__).parent / "configs" / "sft_llama1b.yaml")
