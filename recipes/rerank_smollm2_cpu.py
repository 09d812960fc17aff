"""SmolLM2-135M-Instruct selection corrector on CPU: a LoRA reward model that chooses among pooled candidates.

accelerate launch --config_file accelerate_configs/cpu.yaml recipes/rerank_smollm2_cpu.py
"""

from pathlib import Path

from corrector.training.reward import run

if __name__ == "__main__":
    run(config=Path(__file__).parent / "configs" / "rerank_smollm2_cpu.yaml")
