"""SmolLM2-135M-Instruct corrector on CPU: the embedded default model, LoRA r16 in float32.

accelerate launch --config_file accelerate_configs/cpu.yaml recipes/sft_smollm2_cpu.py
"""

from pathlib import Path

from corrector.training.sft import run

if __name__ == "__main__":
    run(config=Path(__file__).parent / "configs" / "sft_smollm2_cpu.yaml")
