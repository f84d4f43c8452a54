"""A release that changed one component of four: built and pushed incrementally, and with --rebuild.

Four components, each with 3 seconds of RUN work and no {version} build arg, `--parallel 1`, pushed to a
loopback registry from an isolated engine. Release V1 is built and pushed first. Then, each round, one
component's file changes and, with the engine's build cache pruned before each run:
  (a) inv build push --version V           (builds the changed one; the three others are relabelled)
  (b) inv build push --version V --rebuild (builds all four)
Target: (a)/(b) <= 0.35. Exits 1 when missed. Usage: python bench/incremental.py [rounds] [engine20|engine26]
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import REPO, compile_acrtasks  # noqa: E402 - bench/ is on sys.path when run

sys.path.insert(0, str(REPO / "tests"))

from harness import BASE_IMAGE, DockerEngine, Registry, ensure_base_image  # noqa: E402

DOCKERFILE = f"""FROM {BASE_IMAGE}
COPY app.txt /srv/app.txt
RUN sleep 3 && cat /srv/app.txt > /srv/built
"""
COMPONENTS = ("c0", "c1", "c2", "c3")
TARGET = 0.35


def project(root: Path, registry: str) -> None:
    (root / "tasks.py").write_text("from acrtasks import ns  # noqa: F401\n")
    (root / "invoke.yaml").write_text("tasks:\n  executor_class: acrtasks.ChainExecutor\n")
    text = f'[project]\nname = "demo"\nimage_prefix = "demo-"\n[registry]\nurl = "{registry}"\n[build]\nparallel = 1\n'
    for name in COMPONENTS:
        (root / name).mkdir()
        (root / name / "Dockerfile").write_text(DOCKERFILE)
        (root / name / "app.txt").write_text(f"{name} 0\n")
        text += f'[components.{name}]\ncontext = "{name}"\n'
    (root / "build.toml").write_text(text)


def release(root: Path, env: dict, version: str, *extra: str) -> float:
    subprocess.run(["docker", "builder", "prune", "-af"], env=env, check=True, capture_output=True, timeout=300)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "invoke", "build", "--progress", "quiet", "push", "--version", version,
                    *extra], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    compile_acrtasks()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    kind = sys.argv[2] if len(sys.argv) > 2 else "engine20"
    work = Path(tempfile.mkdtemp(prefix="acrtasks-bench-incremental-"))
    registry = Registry().start()
    engine = None
    try:
        engine = DockerEngine.start(kind)
        ensure_base_image(engine.docker_host)
        docker_config = work / "docker"
        (docker_config / "cli-plugins").mkdir(parents=True)
        if engine.kind.plugins:
            for plugin in Path(engine.kind.plugins).iterdir():
                (docker_config / "cli-plugins" / plugin.name).symlink_to(plugin)
        env = {**os.environ, "DOCKER_HOST": engine.docker_host, "PATH": engine.kind.path(os.environ.get("PATH", "")),
               "DOCKER_CONFIG": str(docker_config), "ACRTASKS_CACHE_DIR": str(work / "cache")}
        root = work / "project"
        root.mkdir()
        project(root, f"{registry.host}/ns")
        release(root, env, "v1")
        times = {"a": [], "b": []}
        for number in range(1, rounds + 1):
            (root / "c0" / "app.txt").write_text(f"c0 {number}\n")
            times["a"].append(release(root, env, f"v{number}-a"))
            times["b"].append(release(root, env, f"v{number}-b", "--rebuild"))
        median = {key: statistics.median(values) for key, values in times.items()}
        print(f"4 components with 3 s of RUN work each, one changed, --parallel 1, build cache pruned, "
              f"{engine.kind.name} (Docker {engine.kind.version}), median of {rounds}:")
        print(f"  (a) inv build push            {median['a']:.2f} s  ({', '.join(f'{t:.2f}' for t in times['a'])})")
        print(f"  (b) inv build push --rebuild  {median['b']:.2f} s  ({', '.join(f'{t:.2f}' for t in times['b'])})")
        ratio = median["a"] / median["b"]
        print(f"  (a)/(b) = {ratio:.2f} (target <= {TARGET:g}): {'met' if ratio <= TARGET else 'MISSED'}")
        return 0 if ratio <= TARGET else 1
    finally:
        if engine is not None:
            engine.stop()
        registry.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
