"""The four example components built with --parallel 1 and --parallel 4 (--no-cache), same run.

Target: parallel at least 1.5x faster on a 2-core machine. Starts a throwaway dockerd
unless $DOCKER_HOST answers. Usage: python bench/build_parallel.py [rounds]
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness import DockerEngine, ensure_base_image  # noqa: E402


def build(env, parallel: int) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "invoke", "build", "--no-cache", "--parallel", str(parallel),
                    "--version", f"bench-p{parallel}"], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    engine = DockerEngine.start()
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
        print(f"speed-up {seq / par:.2f}x on {os.cpu_count()} cores (target >= 1.5x)")
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
