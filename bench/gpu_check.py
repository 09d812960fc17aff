"""One prepared GPU check: install the carried bundle, run the ``gpu`` tests, measure training throughput, compare
decoders, and write one report. Run it through ``bench/gpu_check.sh``.

    bash bench/gpu_check.sh            # on a lent GPU machine, with .gpu/ carried (make gpu-bundle builds it)
    bash bench/gpu_check.sh --cpu      # the same code on tiny shapes on CPU (here: the project's .venv)

Steps, each a child process with a time limit inside one overall budget (GPU: 450 s, so the whole
check ends inside 8 minutes and leaves time for a rerun in a 15-minute lease):

1. CUDA present (else one line and exit 2, unless ``--cpu``);
2. the bundle: when the interpreter lacks the project's dependencies, ``.gpu/manifest.json`` must
   exist and name this Python; pip resolves the roots offline against the image's packages and
   installs only what is missing into a temporary folder put first on ``PYTHONPATH`` (exit 3 on a
   missing, foreign or incomplete bundle);
3. ``pytest -m gpu tests/test_gpu.py`` (``CORRECTOR_GPU_TESTS_ON_CPU=1`` with ``--cpu``);
4. ``bench/gpu_throughput.py``, one process per shape (``--tiny`` with ``--cpu``);
5. ``bench/torchaudio_compare.py``.

The report (``$OUT/gpu_report.md`` when ``$OUT`` is set, else ``outputs/gpu_report.md``) holds the
machine, package versions, test outcomes, the throughput table, the decoder comparison, the
issue's targets and each step's time; the full log goes beside it (``gpu_check.log``). Exit status
1 when a test failed or a step crashed or ran out of time (an out-of-memory measurement is a
result, not a failure).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_throughput import SHAPES, table  # noqa: E402  (stdlib-only at import)
from torchaudio_compare import describe  # noqa: E402

BUNDLE = ROOT / ".gpu"
VERSIONS = (
    "torch", "transformers", "trl", "peft", "accelerate", "datasets", "bitsandbytes", "huggingface-hub",
    "torchaudio", "flashlight-text", "kenlm", "vllm",
)  # fmt: skip
GPU_BUDGET_S, CPU_BUDGET_S = 450.0, 1800.0
LIMITS_S = {"tests": 240.0, "shape": 150.0, "torchaudio": 90.0}
TARGET_MFU_3B = 30.0
PROBE = """
import json, sys
from importlib import metadata
out = {"python": "cp%d%d" % sys.version_info[:2]}
try:
    import torch
    out.update(torch=torch.__version__, cuda=torch.version.cuda, available=torch.cuda.is_available())
    if out["available"]:
        p = torch.cuda.get_device_properties(0)
        out.update(device=p.name, memory_gib=round(p.total_memory / 2**30, 1), capability="%d.%d" % (p.major, p.minor))
except Exception as e:
    out.update(available=False, error="%s: %s" % (type(e).__name__, e))
versions = {}
for name in sys.argv[1:]:
    try:
        versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        versions[name] = None
out["versions"] = versions
print(json.dumps(out))
"""


class CheckError(Exception):
    """A problem that stops the check before any step runs (message shown as one line)."""


@dataclass
class Step:
    name: str
    rc: int | None = None  # None: not run
    seconds: float = 0.0
    note: str = ""
    tail: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass
class Run:
    cpu: bool
    started: float = field(default_factory=time.perf_counter)
    budget_s: float = GPU_BUDGET_S
    bundle: Path = BUNDLE
    env: dict = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.started)

    def run(self, name: str, cmd: list[str], limit_s: float) -> Step:
        """Run one child process under ``min(limit_s, budget left)``, keeping its output in the log."""
        step = Step(name)
        self.steps.append(step)
        limit = min(limit_s, self.left() - 5)
        if limit < 10:
            step.note = "skipped: the time budget is spent"
            return step
        t0 = time.perf_counter()
        print(f"== {name} (limit {limit:.0f} s): {' '.join(cmd[1:])}", flush=True)
        # A session of its own, so that a stop also ends its children (accelerate's training process).
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            output, _ = proc.communicate(timeout=limit)
            step.rc = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            step.rc, step.note = 124, f"stopped after {limit:.0f} s"
        output = output.decode(errors="replace")
        step.seconds = time.perf_counter() - t0
        step.tail = "\n".join(output.strip().splitlines()[-40:])
        self.log.append(f"===== {name}: rc {step.rc}, {step.seconds:.1f} s\n{output}")
        print(f"   rc {step.rc}, {step.seconds:.1f} s {step.note}", flush=True)
        return step


def unmet_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The project's dependencies this interpreter does not meet: absent, or installed outside the specifier."""
    from importlib import metadata

    import tomllib
    from packaging.requirements import Requirement

    out = []
    for line in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        req = Requirement(line)
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            version = None
        if version is None or not req.specifier.contains(version, prereleases=True):
            out.append(str(req))
    return out


def check_bundle(bundle: Path, python_tag: str) -> dict:
    """The bundle's manifest, after checking it exists, names ``python_tag`` and has every wheel it lists."""
    manifest_path = bundle / "manifest.json"
    if not manifest_path.is_file():
        raise CheckError(
            f"bundle missing: {manifest_path} not found; build it with `make gpu-bundle` on a machine with network "
            f"and name {bundle.name} in the device call's carry"
        )
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("python") != python_tag:
        raise CheckError(
            f"bundle {bundle} was built for {manifest.get('python')} but this interpreter is {python_tag} "
            f"({sys.executable}); rebuild it for this Python (scripts/gpu_bundle.py)"
        )
    absent = [name for name in manifest["wheels"] if not (bundle / name).is_file()]
    if absent:
        raise CheckError(f"bundle {bundle} is incomplete: {', '.join(absent)} missing; rerun `make gpu-bundle`")
    return manifest


def bundle_note(bundle: Path) -> str:
    """What the bundle folder holds, for the report when nothing had to be installed."""
    manifest = bundle / "manifest.json"
    if not manifest.is_file():
        return f"{bundle.name}/ not built"
    m = json.loads(manifest.read_text())
    size = sum(w["size"] for w in m["wheels"].values()) / 2**20
    return f"{bundle.name}/ holds {len(m['wheels'])} wheels for {m['python']} ({size:.1f} MiB, built {m['built']})"


def install_bundle(bundle: Path, requirements: list[str], site: Path) -> list[str]:
    """Resolve ``requirements`` offline from the bundle against what is installed; install the chosen wheels into
    ``site`` (nothing of the image is touched: ``site`` goes first on ``PYTHONPATH``)."""
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    report = site.parent / "pip-report.json"
    pip = [sys.executable, "-m", "pip"]
    resolve = [*pip, "install", "--dry-run", "--quiet", "--no-index", "--find-links", str(bundle)]
    proc = subprocess.run([*resolve, "--report", str(report), *requirements], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CheckError(f"bundle {bundle} does not satisfy this image: {last_line(proc.stderr)}")
    files = [
        unquote(urlparse(item["download_info"]["url"]).path) for item in json.loads(report.read_text())["install"]
    ]
    if files:
        cmd = [*pip, "install", "--quiet", "--no-index", "--no-deps", "--no-compile", "--target", str(site), *files]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise CheckError(f"installing the bundle failed: {last_line(proc.stderr)}")
    return sorted(Path(f).name for f in files)


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no message)"


def probe(env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *VERSIONS], env=env, capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise CheckError(f"probing torch failed: {last_line(proc.stderr)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def junit_results(path: Path) -> list[dict]:
    """One dict per test case of a pytest JUnit XML file: name, outcome, seconds, message."""
    if not path.is_file():
        return []
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            el = case.find(tag)
            if el is not None:
                text = (el.get("message") or el.text or "").strip()
                outcome, message = name, text.splitlines()[0][:300] if text else ""
                break
        seconds = float(case.get("time", 0))
        out.append({"name": case.get("name"), "outcome": outcome, "seconds": seconds, "message": message})
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def targets(tests: list[dict], rows: list[dict], total_s: float, cpu: bool) -> list[str]:
    """The issue's targets, each with its measured value and ✓ / ✗ (figures on tiny shapes say nothing)."""
    bad = [t for t in tests if t["outcome"] in ("failed", "error")]
    lines = [
        f"{'✓' if tests and not bad else '✗'} all gpu tests pass ({len(tests) - len(bad)} of {len(tests)} did not fail)"
    ]
    if not cpu:
        mfu = [r["mfu_pct"] for r in rows if r["shape"] == "llama-3.2-3b" and r.get("mfu_pct") is not None]
        lines.append(
            f"{'✓' if mfu and max(mfu) >= TARGET_MFU_3B else '✗'} LoRA bf16 3B at seq 512 reaches "
            f"{TARGET_MFU_3B:.0f}% MFU (measured: {max(mfu) if mfu else 'none'})"
        )
        ok8 = [r for r in rows if r["shape"] == "llama-3.1-8b" and r["status"] == "ok"]
        lines.append(
            f"{'✓' if ok8 else '✗'} QLoRA 8B fits and trains with activation checkpointing "
            f"(batch {', '.join(str(r['batch']) for r in ok8) or 'none'})"
        )
    lines.append(f"{'✓' if total_s < 480 else '✗'} the check finished in under 8 minutes ({total_s:.0f} s)")
    return lines


def render(
    run: Run, info: dict, installed: list[str], tests: list[dict], rows: list[dict], decoders: dict | None
) -> str:
    """The report as markdown."""
    total = time.perf_counter() - run.started
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    device = info.get("device") or "CPU"
    mode = "--cpu (tiny shapes on CPU; figures check the code, not the hardware)" if run.cpu else "GPU"
    lines = [
        f"# GPU check: {device}",
        "",
        f"{now}; mode {mode}; Python {info.get('python')}, torch {info.get('torch')} (CUDA {info.get('cuda')})"
        + (f"; {info['memory_gib']} GiB, compute capability {info['capability']}" if info.get("memory_gib") else ""),
        "",
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items() if v)
        + "; absent: "
        + (", ".join(k for k, v in info.get("versions", {}).items() if not v) or "none"),
        "",
        "Bundle: "
        + (
            f"installed {', '.join(installed)}"
            if installed
            else f"nothing installed (this interpreter has every dependency); {bundle_note(run.bundle)}"
        ),
        "",
        "## Targets",
        "",
        *(f"- {t}" for t in targets(tests, rows, total, run.cpu)),
        "",
        "## Tests (`pytest -m gpu tests/test_gpu.py`)",
        "",
        "| test | outcome | s | note |",
        "| --- | --- | ---: | --- |",
        *(f"| {t['name']} | {t['outcome']} | {t['seconds']:.1f} | {t['message'].replace('|', '/')} |" for t in tests),
        "",
        "## Training throughput (`bench/gpu_throughput.py`)",
        "",
        "Random weights, real shapes, the recipes' settings; FLOPs per token counted as 4 x N (N: weights in matrix "
        "products); MFU against "
        + (f"{rows[0]['peak_tflops']} TFLOP/s dense bf16" if rows and rows[0].get("peak_tflops") else "no known peak")
        + ".",
        "",
        table(rows) if rows else "(no measurement)",
        "",
        "## Decoders",
        "",
        describe(decoders) if decoders else "(no result)",
        "",
        "## Steps",
        "",
        "| step | exit | s | note |",
        "| --- | ---: | ---: | --- |",
        *(f"| {s.name} | {'–' if s.rc is None else s.rc} | {s.seconds:.1f} | {s.note} |" for s in run.steps),
        "",
        f"Total {total:.0f} s.",
    ]
    for s in run.steps:
        if s.rc not in (0, None):
            lines += ["", f"### {s.name}: last lines", "", "```", s.tail, "```"]
    return "\n".join(lines) + "\n"


def report_path(given: Path | None) -> Path:
    if given:
        return given
    return Path(os.environ["OUT"]) / "gpu_report.md" if os.environ.get("OUT") else ROOT / "outputs" / "gpu_report.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="tiny shapes on CPU; no CUDA needed")
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--report", type=Path, help="default: $OUT/gpu_report.md, else outputs/gpu_report.md")
    parser.add_argument("--budget", type=float, help=f"seconds for all steps (default {GPU_BUDGET_S:.0f}; CPU longer)")
    opts = parser.parse_args(argv)
    run = Run(cpu=opts.cpu, budget_s=opts.budget or (CPU_BUDGET_S if opts.cpu else GPU_BUDGET_S), bundle=opts.bundle)
    run.env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",  # no network there: never wait on the Hub
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TQDM_DISABLE": "1",
    }
    python_tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    try:
        info = probe(run.env)
        if not opts.cpu and not info.get("available"):
            why = f" ({info['error']})" if info.get("error") else ""
            print(
                f"gpu_check: no CUDA device visible to {sys.executable}{why}; run with --cpu to check the code on CPU"
            )
            return 2
        work = Path(tempfile.mkdtemp(prefix="gpu-check-"))  # the bundle's install, test and measurement files
        installed: list[str] = []
        unmet = unmet_requirements()
        if unmet:
            print(f"this interpreter does not meet: {', '.join(unmet)}", flush=True)
            check_bundle(opts.bundle, python_tag)
            site = work / "site"
            installed = install_bundle(opts.bundle, unmet, site)
            run.env["PYTHONPATH"] = os.pathsep.join([str(site), run.env["PYTHONPATH"]])
            info = probe(run.env)
            print(f"bundle: installed {len(installed)} wheels into {site}", flush=True)
    except CheckError as e:
        print(f"gpu_check: {e}")
        return 3
    if opts.cpu:
        run.env["CORRECTOR_GPU_TESTS_ON_CPU"] = "1"

    py = sys.executable
    junit = work / "junit.xml"
    run.run("tests", [py, "-m", "pytest", "-m", "gpu", "tests/test_gpu.py", "-ra", "-q", "-p", "no:cacheprovider",
                      f"--junitxml={junit}"], LIMITS_S["tests"] * (4 if opts.cpu else 1))  # fmt: skip
    jsonl = work / "throughput.jsonl"
    for shape in SHAPES:
        cmd = [py, "bench/gpu_throughput.py", "--shape", shape, "--jsonl", str(jsonl)] + (
            ["--tiny"] if opts.cpu else []
        )
        run.run(f"throughput {shape}", cmd, LIMITS_S["shape"])
    decoders_json = work / "torchaudio.json"
    cmd = [py, "bench/torchaudio_compare.py", "--json", str(decoders_json), "--trials", "20" if opts.cpu else "100"]
    run.run("torchaudio", cmd, LIMITS_S["torchaudio"])

    tests = junit_results(junit)
    rows = read_jsonl(jsonl)
    decoders = json.loads(decoders_json.read_text()) if decoders_json.is_file() else None
    text = render(run, info, installed, tests, rows, decoders)
    path = report_path(opts.report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    (path.parent / "gpu_check.log").write_text("\n".join(run.log))
    print(text)
    print(f"report: {path}; log: {path.parent / 'gpu_check.log'}")
    shutil.rmtree(work, ignore_errors=True)
    failed = any(t["outcome"] in ("failed", "error") for t in tests) or not tests
    return 1 if failed or any(s.rc not in (0, None) or s.note.startswith("skipped") for s in run.steps) else 0


if __name__ == "__main__":
    sys.exit(main())
