"""Start-up time of ``corrector --help``, this checkout beside another one, runs interleaved.

    python bench/cli_startup.py --other /path/to/other/checkout [--runs 5]

Each run is a fresh interpreter (``python -c`` calling the CLI's ``main``) with the checkout first on
``PYTHONPATH``; interleaving A, B, A, B... shares any background load fairly. Prints the medians and
their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = "import sys; from corrector.cli import main; sys.argv = ['corrector', '--help']; main(['--help'])"


def once(checkout: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", CODE], env=env, stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--other", required=True, type=Path, help="the checkout to compare with (e.g. a git worktree)")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    once(ROOT), once(args.other)  # warm the file cache
    times: dict[str, list[float]] = {"this": [], "other": []}
    for _ in range(args.runs):
        times["this"].append(once(ROOT))
        times["other"].append(once(args.other))
    med = {k: statistics.median(v) for k, v in times.items()}
    print("| checkout | median s | runs |\n| --- | ---: | --- |")
    print(f"| this ({ROOT}) | {med['this']:.3f} | {' '.join(f'{x:.3f}' for x in times['this'])} |")
    print(f"| other ({args.other}) | {med['other']:.3f} | {' '.join(f'{x:.3f}' for x in times['other'])} |")
    print(f"this / other: {med['this'] / med['other']:.2f}")


if __name__ == "__main__":
    main()
