"""The four example components built with --parallel 1 and --parallel 4 (--no-cache, classic backend), same run.

Target: parallel at least 1.5x faster on a 2-core machine; exits 1 when missed. Starts a
throwaway dockerd unless $DOCKER_HOST answers; on an engine of yours it removes the images it
tagged, and only those. Usage: python bench/build_parallel.py [rounds]
"""

import os
import statistics
import subprocess
import sys
import time

from benchlib import REPO, compile_acrtasks  # noqa: E402 - bench/ is on sys.path when run

sys.path.insert(0, str(REPO / "tests"))

from harness import DockerEngine, ensure_base_image  # noqa: E402


def build(env, parallel: int) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "invoke", "build", "--backend", "classic", "--no-cache", "--parallel", str(parallel),
                    "--version", f"bench-p{parallel}"], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


TARGET = 1.5
COMPONENTS = ("backend", "frontend", "nginx", "jupyterhub")


def remove_bench_images(docker_host: str) -> None:
    import docker

    api = docker.APIClient(base_url=docker_host, timeout=60)
    for component in COMPONENTS:
        for parallel in (1, 4):
            try:
                api.remove_image(f"ai-infra-{component}:bench-p{parallel}")
            except docker.errors.APIError:
                pass


def main() -> int:
    compile_acrtasks()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    engine = DockerEngine.start()
    speedup = 0.0
    try:
        ensure_base_image(engine.docker_host)
        env = {**os.environ, "DOCKER_HOST": engine.docker_host}
        build(env, 4)  # warm-up: context upload paths, base image layers
        sequential, parallel = [], []
        for _ in range(rounds):
            sequential.append(build(env, 1))
            parallel.append(build(env, 4))
        seq, par = statistics.median(sequential), statistics.median(parallel)
        print(f"--parallel 1: median {seq:.2f} s  ({', '.join(f'{t:.2f}' for t in sequential)})")
        print(f"--parallel 4: median {par:.2f} s  ({', '.join(f'{t:.2f}' for t in parallel)})")
        speedup = seq / par
        print(f"speed-up {speedup:.2f}x on {os.cpu_count()} cores (target >= {TARGET}x): "
              f"{'met' if speedup >= TARGET else 'MISSED'}")
    finally:
        remove_bench_images(engine.docker_host)
        engine.stop()
    return 0 if speedup >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
