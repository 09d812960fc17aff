"""Every command in the README names an existing recipe, config, script or make target, and flags its parser accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [re.sub(r"\s+#.*$", "", line).strip() for line in lines if line.strip() and not line.startswith("#")]


COMMANDS = readme_commands()


def test_readme_has_commands():
    assert COMMANDS[:2] == ["make demo", "make test"], "the README must start with the two commands"
    assert any(c.startswith("accelerate launch") for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_is_real(command):
    argv = shlex.split(command)
    if argv[0] == "make":
        assert re.search(rf"^{argv[1]}:", (ROOT / "Makefile").read_text(), flags=re.M), f"no make target {argv[1]}"
    elif argv[0] == "corrector":
        from corrector.cli import build_parser

        build_parser().parse_args(argv[1:])  # SystemExit on an unknown command or flag
    elif argv[:2] == ["accelerate", "launch"]:
        config = argv[argv.index("--config_file") + 1]
        assert (ROOT / config).is_file(), config
        recipe = next(a for a in argv if a.startswith("recipes/"))
        assert (ROOT / recipe).is_file(), recipe
        yaml = ROOT / "recipes" / "configs" / (Path(recipe).stem + ".yaml")
        if Path(recipe).stem.startswith("rerank_"):
            from corrector.training.reward import parse_args
        else:
            from corrector.training.sft import parse_args
        parse_args(argv[argv.index(recipe) + 1 :], config=yaml)
    elif argv[0] == "python" and argv[1] == "recipes/eval_corrector.py":
        from corrector.cli.evaluate import parse_args

        parse_args(argv[2:], config=ROOT / "recipes" / "configs" / "eval_smollm2_cpu.yaml")
    elif argv[0] == "python":
        assert (ROOT / argv[1]).is_file(), argv[1]
    else:
        pytest.fail(f"README command not checked by this test: {command}")
