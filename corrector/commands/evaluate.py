"""``corrector evaluate``: systems side by side on a held-out partition (see ``corrector.evaluation``)."""

from __future__ import annotations

import argparse

from corrector.evaluation import arguments_from, make_parser, run_evaluation


def add_arguments(p: argparse.ArgumentParser) -> None:
    make_parser(p)


def run(args: argparse.Namespace) -> int:
    run_evaluation(arguments_from(args))
    return 0
