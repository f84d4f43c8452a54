"""The registry build cache: a rebuild on an engine with an empty local cache, with and without it.

On Docker 26.1 with the containerd image store (buildx's docker driver), one component whose Dockerfile has
3 seconds of RUN work. A first engine builds it with `[build] cache = "registry"`, filling the cache at
`<ns>/demo-slow:buildcache` in a loopback registry. Then, each round, on a second engine whose build cache is
empty (pruned, the image removed):
  (a) inv build with cache = "none"      (what a fresh CI runner does today)
  (b) inv build with cache = "registry"  (the steps come from the registry)
Target: (a)/(b) >= 3. Exits 1 when missed. Usage: python bench/build_cache.py [rounds]
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
ARG VERSION
RUN sleep 3 && echo "$VERSION" > /slow && dd if=/dev/zero of=/blob bs=1024 count=2048 2>/dev/null
"""
TARGET = 3.0


def project(root: Path, registry: str, cache: str) -> None:
    (root / "tasks.py").write_text("from acrtasks import ns  # noqa: F401\n")
    (root / "invoke.yaml").write_text("tasks:\n  executor_class: acrtasks.ChainExecutor\n")
    (root / "slow").mkdir(exist_ok=True)
    (root / "slow" / "Dockerfile").write_text(DOCKERFILE)
    (root / "build.toml").write_text(f'[project]\nname = "demo"\nimage_prefix = "demo-"\n[registry]\nurl = "{registry}"\n'
                                     f'[build]\ncache = "{cache}"\nbackend = "buildx"\n'
                                     '[components.slow]\ncontext = "slow"\n')


def environment(engine: DockerEngine, docker_config: Path) -> dict:
    return {**os.environ, "DOCKER_HOST": engine.docker_host, "PATH": engine.kind.path(os.environ.get("PATH", "")),
            "DOCKER_CONFIG": str(docker_config)}


def build(root: Path, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "invoke", "build", "--version", "bench", "--progress", "quiet"], cwd=root,
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def empty(env: dict) -> None:
    """The engine's build cache and the built image gone: a fresh runner."""
    subprocess.run(["docker", "rmi", "-f", "demo-slow:bench"], env=env, capture_output=True, timeout=120)
    subprocess.run(["docker", "builder", "prune", "-af"], env=env, check=True, capture_output=True, timeout=300)


def main() -> int:
    compile_acrtasks()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    work = Path(tempfile.mkdtemp(prefix="acrtasks-bench-cache-"))
    docker_config = work / "docker"
    registry = Registry().start()
    engines = []
    try:
        filler = DockerEngine.start("engine26")
        engines.append(filler)
        docker_config.mkdir()
        (docker_config / "cli-plugins").mkdir()
        (docker_config / "cli-plugins" / "docker-buildx").symlink_to(Path(filler.kind.plugins) / "docker-buildx")
        ensure_base_image(filler.docker_host)
        cached, uncached = work / "cached", work / "uncached"
        for root, cache in ((cached, "registry"), (uncached, "none")):
            root.mkdir()
            project(root, f"{registry.host}/ns", cache)
        build(cached, environment(filler, docker_config))  # fills <ns>/demo-slow:buildcache
        fresh = DockerEngine.start("engine26")
        engines.append(fresh)
        ensure_base_image(fresh.docker_host)
        env = environment(fresh, docker_config)
        times = {"a": [], "b": []}
        for _ in range(rounds):
            empty(env)
            times["a"].append(build(uncached, env))
            empty(env)
            times["b"].append(build(cached, env))
        median = {key: statistics.median(values) for key, values in times.items()}
        print(f"one component, 3 s of RUN work, rebuilt on an engine with an empty build cache "
              f"(Docker {fresh.kind.version}, containerd store, buildx docker driver), median of {rounds}:")
        print(f"  (a) cache = \"none\"      {median['a']:.2f} s  ({', '.join(f'{t:.2f}' for t in times['a'])})")
        print(f"  (b) cache = \"registry\"  {median['b']:.2f} s  ({', '.join(f'{t:.2f}' for t in times['b'])})")
        ratio = median["a"] / median["b"]
        print(f"  (a)/(b) = {ratio:.1f}x faster with the registry cache (target >= {TARGET:g}): "
              f"{'met' if ratio >= TARGET else 'MISSED'}")
        return 0 if ratio >= TARGET else 1
    finally:
        for engine in reversed(engines):
            engine.stop()
        registry.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
