"""set-images on 100 Kubernetes manifests holding 2,000 image fields: --check, then the write, same run.

Target: each under 5x the time of `inv --version` (Python + Invoke start-up) measured in the same run;
exits 1 when missed. Usage: python bench/set_images.py [rounds]
"""

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import compile_acrtasks  # noqa: E402 - bench/ is on sys.path when run

TARGET = 5.0
COMPONENTS = ("backend", "frontend", "nginx", "jupyterhub")


def make_project(root: Path) -> list:
    (root / "tasks.py").write_text("from acrtasks import ns  # noqa: F401\n")
    (root / "invoke.yaml").write_text("tasks:\n  executor_class: acrtasks.ChainExecutor\n")
    config = '[project]\nname = "ai-infra-matrix"\nimage_prefix = "ai-infra-"\n'
    config += "".join(f'[components.{name}]\ncontext = "."\n' for name in COMPONENTS)
    config += '[deps]\nimages = ["postgres:15-alpine", "redis:7-alpine"]\n'
    (root / "build.toml").write_text(config)
    images = [f"ai-infra-{name}:v0.0.3.2" for name in COMPONENTS] + ["postgres:15-alpine", "redis:7-alpine",
                                                                     "quay.io/other/thing:1"]
    files = []
    for number in range(100):
        containers = "".join(f"        - name: c{index}\n          image: {images[(number + index) % len(images)]}\n"
                             for index in range(20))
        path = root / f"deploy-{number:03d}.yaml"
        path.write_text(f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{number}\nspec:\n"
                        f"  template:\n    spec:\n      containers:\n{containers}")
        files.append(path.name)
    return files


def timed(args, cwd) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "invoke", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    compile_acrtasks()
    baseline, checks, writes = [], [], []
    for _ in range(rounds):
        root = Path(tempfile.mkdtemp(prefix="acr-bench-set-images-"))
        try:
            files = make_project(root)
            args = ["set-images", "--registry", "xxx.aliyuncs.com/ai-infra-matrix", "--version", "v0.0.3.3"]
            args += [arg for name in files for arg in ("--file", name)]
            baseline.append(timed(["--version"], root))
            checks.append(timed([*args, "--check"], root))
            writes.append(timed(args, root))
            assert "ai-infra-matrix:backend-v0.0.3.3" in (root / "deploy-000.yaml").read_text()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    base, check, write = (statistics.median(v) for v in (baseline, checks, writes))
    print(f"inv --version                      median {base * 1000:.0f} ms")
    print(f"set-images --check (2,000 fields)  median {check * 1000:.0f} ms = {check / base:.1f}x")
    print(f"set-images write   (2,000 fields)  median {write * 1000:.0f} ms = {write / base:.1f}x")
    met = check / base < TARGET and write / base < TARGET
    print(f"target < {TARGET}x each: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
