#!/usr/bin/env bash
# One prepared GPU check (issue 11): bundle install, `pytest -m gpu`, training throughput of the recipe shapes,
# torchaudio's decoder beside the project's, one report ($OUT/gpu_report.md, else outputs/gpu_report.md).
#   bash bench/gpu_check.sh           on a lent GPU machine; carry .gpu (make gpu-bundle), under 8 minutes
#   bash bench/gpu_check.sh --cpu     the same code on tiny shapes on CPU (uses .venv when there is one)
# $PYTHON overrides the interpreter (default: python3 on a GPU machine, whose python3 holds torch).
# The steps and exit codes are described in bench/gpu_check.py.
set -u
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
if [[ -z ${PYTHON:-} && " $* " == *" --cpu "* && -x .venv/bin/python ]]; then
    py=.venv/bin/python
fi
exec "$py" bench/gpu_check.py "$@"
