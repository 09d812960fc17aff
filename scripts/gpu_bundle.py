"""Build the GPU carry bundle: wheels of what the GPU image lacks, for CPython 3.12 on manylinux x86-64.

    .venv/bin/python scripts/gpu_bundle.py [--out .gpu] [--dry-run]      (or: make gpu-bundle)

The lent GPU machine has no network and receives at most 64 MiB with the working tree, so the
packages its image lacks travel as wheels in a git-ignored folder named in the device call's
``carry``. Starting from the dependencies in ``pyproject.toml`` that the image does not meet (the
roots; each pinned to the version the test suite runs with here when that version meets the
project's specifier), the builder downloads each wheel without its dependencies, reads its
``Requires-Dist`` for a CPython 3.12 Linux interpreter, and follows every requirement the image
does not already meet (``IMAGE``: its packages as last read, versions where recorded). A
requirement on an image package whose version was not recorded is assumed met when it only sets
a lower bound; when it caps the version, that package's wheel is carried too if small, and pip on
the GPU machine installs it only if the image's copy breaks the cap. ``kenlm`` is an sdist only, so
its wheel is built here with a CPython 3.12 interpreter; bitsandbytes is repacked with only its
CUDA 13 libraries (the full wheel holds one per CUDA/ROCm version, 43 MB). The folder gets a
``manifest.json`` (Python tag, platform, roots, files, assumptions) that ``bench/gpu_check.sh``
reads, and the total must stay under ``LIMIT_MIB``. After building, the install is rehearsed
offline: pip (CPython 3.12) resolves the roots from the bundle against stand-ins of the image's
packages, which proves the bundle complete under the recorded assumptions.

``--dry-run`` reaches no network: it prints the plan and checks the size of what is already in
the output folder.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import metadata
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MIB = 60.0
PYTHON_TAG = "cp312"
PYTHON_VERSION = "3.12"
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
# The project's dependencies the GPU image lacks (pyproject.toml), pinned below to the versions here.
SDIST_ONLY = {"kenlm"}  # no wheel on PyPI: built here with a CPython 3.12 interpreter
BNB_KEEP = re.compile(r"^bitsandbytes/libbitsandbytes_(cuda13\d+|cpu)\.so$")  # CUDA 13 (torch cu130), CPU stub
SMALL_MIB = 2.0  # a capped image package is carried as insurance only up to this size
PY312_CANDIDATES = ("python3.12", "/root/.pyenv/versions/3.12.1/bin/python3.12")  # or $PYTHON312

# The GPU image ('cuda', /work/.library/device/KINDS.md, read 2026-11-17): versions where recorded.
IMAGE_VERSIONS = {
    "accelerate": "1.15.0",
    "huggingface-hub": "1.33.0",
    "numpy": "2.5.2",
    "safetensors": "0.8.0",
    "sentencepiece": "0.2.2",
    "tokenizers": "0.23.2",
    "torch": "2.11.0",
    "torchaudio": "2.11.0",
    "transformers": "5.17.0",
    "triton": "3.6.0",
}
_IMAGE_LIST = """
    absl-py aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
    charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
    cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock
    flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx humanize
    hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2
    joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown
    markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch
    mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpyro nvidia-cublas nvidia-cuda-cupti
    nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
    nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink
    nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum
    opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker
    prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks
    pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
    pytorch-lightning pyyaml regex requests rich sacrebleu scikit-build-core scikit-image scikit-learn scipy
    seaborn sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate
    tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm toolz torchdiffeq
    torch-geometric torchmetrics torchvision tqdm treescope typer typing-extensions typing-inspect urllib3 uvloop
    wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
"""
IMAGE_PACKAGES = set(IMAGE_VERSIONS) | set(_IMAGE_LIST.split())
# Markers of the GPU machine's interpreter, for evaluating Requires-Dist there.
TARGET_ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.3",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.12.3",
    "python_version": PYTHON_VERSION,
    "sys_platform": "linux",
    "extra": "",
}


def mib(n_bytes: int) -> float:
    return n_bytes / 2**20


@dataclass(frozen=True)
class Need:
    """What to do about one requirement: ``carry`` (must), ``insure`` (if small), or nothing (met by the image)."""

    action: str  # "carry", "insure", "image", "assumed"
    requirement: Requirement
    why: str


def classify(req: Requirement, image_versions: Mapping[str, str], image_packages: Iterable[str]) -> Need:
    """Decide whether the image meets ``req`` (after marker evaluation) or the bundle must carry it."""
    name = canonicalize_name(req.name)
    known = {canonicalize_name(k): v for k, v in image_versions.items()}
    present = {canonicalize_name(p) for p in image_packages} | set(known)
    if name not in present:
        return Need("carry", req, "not in the image")
    if name in known:
        if req.specifier.contains(Version(known[name]), prereleases=True):
            return Need("image", req, f"image has {known[name]}")
        return Need("carry", req, f"image has {known[name]}, needs {req.specifier}")
    if any(s.operator in ("<", "<=", "==", "===", "~=") for s in req.specifier):
        return Need("insure", req, f"image version not recorded; {req.specifier} caps it")
    if req.specifier:
        return Need("assumed", req, f"image version not recorded; assumed {req.specifier}")
    return Need("image", req, "in the image")


def requirements(meta_text: str) -> list[Requirement]:
    """``Requires-Dist`` entries of a wheel's METADATA that apply on the GPU machine (no extras)."""
    out = []
    for line in meta_text.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        if req.marker is None or req.marker.evaluate(TARGET_ENV):
            out.append(req)
    return out


def wheel_metadata(path: Path) -> tuple[str, str, str]:
    """(canonical name, version, METADATA text) of a wheel file."""
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        text = z.read(name).decode()
    fields = dict(re.findall(r"^(Name|Version): (.+)$", text, flags=re.MULTILINE))
    return canonicalize_name(fields["Name"]), fields["Version"], text


def project_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    """The project's runtime dependencies (``[project] dependencies``)."""
    return [Requirement(r) for r in tomllib.loads(pyproject.read_text())["project"]["dependencies"]]


def plan_roots(reqs: Iterable[Requirement]) -> list[Need]:
    """The project's requirements the image does not meet for sure: to carry, or to insure when capped."""
    needs = (classify(r, IMAGE_VERSIONS, IMAGE_PACKAGES) for r in reqs)
    return [n for n in needs if n.action in ("carry", "insure")]


def local_pin(name: str, spec: SpecifierSet | None = None) -> str:
    """``name==version`` of the copy installed here when it meets ``spec``; else ``name`` with ``spec``."""
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        version = None
    if version is not None and (spec is None or spec.contains(Version(version), prereleases=True)):
        return f"{name}=={version}"
    return f"{name}{spec or ''}"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def repack_bitsandbytes(src: Path, dst_dir: Path) -> Path:
    """Copy of the bitsandbytes wheel with only the native libraries ``BNB_KEEP`` matches (RECORD rewritten)."""
    dst = dst_dir / src.name
    with zipfile.ZipFile(src) as zin:
        names = [n for n in zin.namelist() if not n.endswith(".so") or BNB_KEEP.match(n)]
        if not any(n.endswith(".so") and "cuda13" in n for n in names):
            raise SystemExit(f"{src.name}: no CUDA 13 library (libbitsandbytes_cuda13*.so) inside; check its layout")
        record = next(n for n in names if n.endswith(".dist-info/RECORD"))
        tmp = dst.with_suffix(".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            lines = []
            for n in names:
                if n == record:
                    continue
                data = zin.read(n)
                zout.writestr(zin.getinfo(n), data, compress_type=zipfile.ZIP_DEFLATED)
                lines.append(_record_line(n, data))
            zout.writestr(record, "\n".join([*lines, f"{record},,"]) + "\n")
    tmp.replace(dst)
    return dst


def check_size(folder: Path, limit_mib: float = LIMIT_MIB) -> tuple[list[tuple[str, int]], int]:
    """The wheels in ``folder`` with their sizes and the total; exits when the total is over the limit."""
    files = sorted((p.name, p.stat().st_size) for p in folder.glob("*.whl"))
    total = sum(size for _, size in files)
    if mib(total) > limit_mib:
        raise SystemExit(
            f"{folder}: {mib(total):.1f} MiB of wheels is over the {limit_mib:.0f} MiB limit "
            "(the working tree that travels to the GPU machine holds 64 MiB); drop a package or repack it"
        )
    return files, total


def print_size(folder: Path, limit_mib: float = LIMIT_MIB) -> int:
    files, total = check_size(folder, limit_mib)
    width = max((len(n) for n, _ in files), default=10)
    for name, size in files:
        print(f"  {name:<{width}}  {mib(size):6.2f} MiB")
    print(f"bundle {folder}: {len(files)} wheels, {mib(total):.1f} MiB (limit {limit_mib:.0f} MiB)")
    return total


def pip_download(specs: list[str], dest: Path, extra_platforms: Iterable[str] = ()) -> None:
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", PYTHON_TAG, "--abi", "abi3",
        "--abi", "none", *(a for p in (*PLATFORMS, *extra_platforms, "any") for a in ("--platform", p)),
        "-d", str(dest), *specs,
    ]  # fmt: skip
    subprocess.run(cmd, check=True)


def find_python312() -> str | None:
    """A working CPython 3.12 interpreter: ``$PYTHON312`` or the first of ``PY312_CANDIDATES`` that runs."""
    for cand in (os.environ.get("PYTHON312"), *PY312_CANDIDATES):
        path = cand and shutil.which(cand)
        if not path:
            continue
        probe = subprocess.run(
            [path, "-c", "import sys; print(sys.implementation.name, *sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.stdout.split() == ["cpython", "3", "12"]:
            return path
    return None


def build_sdist_wheel(spec: str, dest: Path) -> None:
    """Build a CPython 3.12 wheel of an sdist-only package with a local 3.12 interpreter."""
    py = find_python312()
    if py is None:
        raise SystemExit(f"building {spec} needs a CPython 3.12 interpreter ({' or '.join(PY312_CANDIDATES)})")
    subprocess.run([py, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dest), spec], check=True)


def find_wheel(folder: Path, name: str) -> Path | None:
    """The wheel of project ``name`` in ``folder`` (wheel names use underscores), if there is one."""
    stem = canonicalize_name(name).replace("-", "_")
    found = [p for p in folder.glob("*.whl") if canonicalize_name(p.name.split("-")[0]).replace("-", "_") == stem]
    return found[0] if found else None


def build(out: Path) -> dict:
    """Download, build and repack the closure of the roots into ``out``; return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    raw = out / ".raw"  # pip's downloads before repacking; left out of the size check and of the bundle
    raw.mkdir(exist_ok=True)
    carried: dict[str, Path] = {}
    reasons: dict[str, str] = {}
    assumed: list[str] = []
    roots = plan_roots(project_requirements())
    todo = [(n.requirement, f"project dependency; {n.why}", n.action == "insure") for n in roots]
    while todo:
        batch, todo = todo, []
        fresh = [(r, why, ins) for r, why, ins in batch if canonicalize_name(r.name) not in carried]
        wheels, sdists = [], []
        for req, _, _ in fresh:
            spec = local_pin(req.name, req.specifier or None)
            (sdists if canonicalize_name(req.name) in SDIST_ONLY else wheels).append(spec)
        for spec in sdists:
            built = find_wheel(out, Requirement(spec).name)
            if built is None or not Requirement(spec).specifier.contains(wheel_metadata(built)[1]):
                build_sdist_wheel(spec, raw)
        if wheels:
            pip_download(sorted(set(wheels)), raw)
        for req, why, insurance in fresh:
            name = canonicalize_name(req.name)
            if name in carried:
                continue
            src = find_wheel(raw, name) or find_wheel(out, name)
            if src is None:
                raise SystemExit(f"no wheel of {req} was downloaded or built")
            if insurance and mib(src.stat().st_size) > SMALL_MIB:
                assumed.append(f"{req} ({why}; {mib(src.stat().st_size):.0f} MiB, not carried)")
                continue
            if name == "bitsandbytes":
                dst = repack_bitsandbytes(src, out)
            else:
                dst = out / src.name
                if src != dst:
                    shutil.copy2(src, dst)
            carried[name], reasons[name] = dst, why
            _, version, meta_text = wheel_metadata(dst)
            for sub in requirements(meta_text):
                need = classify(sub, IMAGE_VERSIONS, IMAGE_PACKAGES)
                label = f"{sub} (for {name} {version})"
                if need.action in ("carry", "insure"):
                    todo.append((sub, f"{need.why}; needed by {name}", need.action == "insure"))
                elif need.action == "assumed":
                    assumed.append(f"{label}: {need.why}")
    shutil.rmtree(raw)
    keep = {p.name for p in carried.values()}
    for stale in out.glob("*.whl"):
        if stale.name not in keep:
            stale.unlink()
    manifest = {
        "python": PYTHON_TAG,
        "python_version": PYTHON_VERSION,
        "platform": "manylinux x86_64",
        "built": date.today().isoformat(),
        "roots": [str(n.requirement) for n in roots if canonicalize_name(n.requirement.name) in carried],
        "wheels": {p.name: {"size": p.stat().st_size, "why": reasons[n]} for n, p in sorted(carried.items())},
        "assumed_in_image": sorted(set(assumed)),
        "image_versions": IMAGE_VERSIONS,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _fake_dist(site: Path, name: str, version: str) -> None:
    info = site / f"{canonicalize_name(name).replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")


def rehearse_install(out: Path, roots: Iterable[str]) -> list[str]:
    """Resolve ``roots`` offline from the bundle with CPython 3.12's pip, against stand-ins of the image's packages.

    Packages whose image version was not recorded stand in with the version installed here (or
    9999 when not installed here). Returns the wheels pip would install; exits if resolution fails.
    """
    py = find_python312()
    if py is None:
        print("install rehearsal skipped: no CPython 3.12 interpreter here")
        return []
    with tempfile.TemporaryDirectory() as tmp:
        site, venv = Path(tmp) / "image-site", Path(tmp) / "venv"
        site.mkdir()
        for name in sorted(IMAGE_PACKAGES - {"pip", "setuptools", "wheel"}):
            try:
                version = IMAGE_VERSIONS.get(name) or metadata.version(name)
            except metadata.PackageNotFoundError:
                version = "9999"
            _fake_dist(site, name, version)
        subprocess.run([py, "-m", "venv", "--without-pip", str(venv)], check=True)
        report = Path(tmp) / "report.json"
        env = {**os.environ, "PYTHONPATH": str(site), "PIP_CONFIG_FILE": os.devnull}
        cmd = [
            py, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--dry-run", "--quiet",
            "--no-index", "--find-links", str(out), "--report", str(report), *roots,
        ]  # fmt: skip
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"install rehearsal failed: the bundle is incomplete\n{proc.stderr.strip()}")
        return sorted(Path(item["download_info"]["url"]).name for item in json.loads(report.read_text())["install"])


def plan_text() -> str:
    lines = [f"GPU bundle plan: CPython {PYTHON_VERSION} ({PYTHON_TAG}), {', '.join(PLATFORMS[:1])} and older, x86-64"]
    roots = plan_roots(project_requirements())
    lines.append("roots (pyproject.toml, pinned to this environment where it fits):")
    lines += [f"  {local_pin(n.requirement.name, n.requirement.specifier or None)}: {n.why}" for n in roots]
    lines.append(f"built from source: {', '.join(sorted(SDIST_ONLY))}; bitsandbytes keeps {BNB_KEEP.pattern}")
    lines.append(f"image: {len(IMAGE_PACKAGES)} packages, versions recorded for {len(IMAGE_VERSIONS)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu", help="bundle folder (git-ignored)")
    parser.add_argument("--limit-mib", type=float, default=LIMIT_MIB)
    parser.add_argument("--dry-run", action="store_true", help="no network: print the plan, size-check --out")
    args = parser.parse_args(argv)
    print(plan_text())
    if args.dry_run:
        if args.out.is_dir():
            print_size(args.out, args.limit_mib)
        else:
            print(f"{args.out}: not built yet (make gpu-bundle)")
        return 0
    manifest = build(args.out)
    for note in manifest["assumed_in_image"]:
        print(f"assumed in the image: {note}")
    print_size(args.out, args.limit_mib)
    installs = rehearse_install(args.out, manifest["roots"])
    if installs:
        print(f"install rehearsal (CPython 3.12 pip, offline, image stand-ins): {len(installs)} wheels resolve:")
        print("  " + " ".join(installs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
