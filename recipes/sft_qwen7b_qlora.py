"""Qwen2.5-7B-Instruct corrector: QLoRA (4-bit NF4 base, bf16 LoRA r16) on one 24 GB GPU.

accelerate launch --config_file accelerate_configs/single_gpu.yaml recipes/sft_qwen7b_qlora.py
"""

from pathlib import Path

from corrector.training.sft import run

if __name__ == "__main__":
    run(config=Path(__file__).parent / "configs" / "sft_qwen7b_qlora.yaml")
