"""Training: the shared ``main`` behind the recipes. Supervised fine-tuning of a generative corrector
with TRL's ``SFTTrainer`` and PEFT LoRA/QLoRA (``sft``), and reward-model training for the selection
corrector (``reward``); both calibrate the vote gate on inner validation.

Imports the shared bottom, ``corrector.data`` and ``corrector.correction``.
"""
