"""The README and the guides: every bash command names an existing recipe, config, script or make target with
flags its parser accepts, and every relative link resolves."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# Documents whose bash blocks are checked; bench/RESULTS.md records past commands and is checked for links only.
COMMAND_DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "recipes" / "README.md"]
LINK_DOCS = [*COMMAND_DOCS, ROOT / "bench" / "RESULTS.md"]
FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)


def bash_commands(path: Path) -> list[str]:
    """Commands of the ```bash blocks of ``path``: continuation lines joined, comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [re.sub(r"\s+#.*$", "", line).strip() for line in lines if line.strip() and not line.startswith("#")]


COMMANDS = bash_commands(README)
ALL_COMMANDS = [(doc.relative_to(ROOT).as_posix(), c) for doc in COMMAND_DOCS for c in bash_commands(doc)]


def test_readme_is_a_front_door():
    assert len(README.read_bytes()) <= 10_000, "README.md over 10,000 bytes: move the detail to docs/"


def test_readme_has_commands():
    assert COMMANDS[:2] == ["make demo", "make test"], "the README must start with the two commands"
    assert any(c.startswith("accelerate launch") for c in COMMANDS)


def test_guides_exist():
    names = {p.name for p in COMMAND_DOCS}
    for guide in ("data.md", "decoding.md", "training.md", "evaluation.md", "correction.md", "cli.md", "layout.md"):
        assert guide in names, f"docs/{guide} is missing"


@pytest.mark.parametrize(("doc", "command"), ALL_COMMANDS, ids=[f"{d}: {c[:60]}" for d, c in ALL_COMMANDS])
def test_command_is_real(doc, command):
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
    elif argv[0] in ("python", "bash"):
        assert (ROOT / argv[1]).is_file(), argv[1]
    else:
        pytest.fail(f"{doc}: command not checked by this test: {command}")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(h) for h in re.findall(r"^#+\s+(.*)$", text, flags=re.M)}


LINKS = list(
    dict.fromkeys(
        (doc, target)
        for doc in LINK_DOCS
        for target in re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", doc.read_text()))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: ...
    )
)


@pytest.mark.parametrize(("doc", "target"), LINKS, ids=[f"{d.relative_to(ROOT).as_posix()} -> {t}" for d, t in LINKS])
def test_link_resolves(doc, target):
    path, _, anchor = target.partition("#")
    dest = (doc.parent / path).resolve() if path else doc
    where = f"{doc.relative_to(ROOT)}: link {target}"
    assert dest.exists(), f"{where}: no such file"
    if anchor and dest.suffix == ".md":
        assert anchor in anchors(dest), f"{where}: no heading with anchor #{anchor} in {dest.name}"


def test_documents_have_links():
    assert any(doc == README for doc, _ in LINKS), "the README links to its guides"
