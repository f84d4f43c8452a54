"""`inv push` into an empty loopback registry: one at a time (--jobs 1) vs --jobs 4 (the default).

Same run, a fresh registry for every push.
1. The four examples (about 2 MB each, nearly all of it the shared busybox base). Target: --jobs 4 at least
   1.5x faster than --jobs 1. Exits 1 when missed.
2. Four components with 20 MB layers of their own on the same base (reported, no target): where the engine's
   work per push is large enough for parallel pushes to matter.
Usage: python bench/push_parallel.py [rounds]
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

from harness import DockerEngine, Registry, ensure_base_image  # noqa: E402

COMPONENTS = ("backend", "frontend", "nginx", "jupyterhub")
VERSION = "bench-push"


def push(env, jobs: int, cwd: Path = REPO) -> float:
    registry = Registry().start()
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "invoke", "push", "--registry", f"{registry.host}/bench", "--version",
                        VERSION, "--jobs", str(jobs)], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started
    finally:
        registry.remove()


def compare(env, rounds: int, cwd: Path = REPO):
    one, four = [], []
    for _ in range(rounds):
        one.append(push(env, 1, cwd))
        four.append(push(env, 4, cwd))
    a, b = statistics.median(one), statistics.median(four)
    print(f"  --jobs 1  {a:.2f} s  ({', '.join(f'{t:.2f}' for t in one)})")
    print(f"  --jobs 4  {b:.2f} s  ({', '.join(f'{t:.2f}' for t in four)})")
    return a / b


def big_project() -> Path:
    from harness import BASE_IMAGE

    root = Path(tempfile.mkdtemp(prefix="acr-bench-push-"))
    (root / "tasks.py").write_text("from acrtasks import ns  # noqa: F401\n")
    text = '[project]\nname = "big"\n'
    for name in COMPONENTS:
        (root / name).mkdir()
        (root / name / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nRUN head -c 20000000 /dev/urandom > /{name}.bin\n")
        text += f'[components.{name}]\ncontext = "{name}"\n'
    (root / "build.toml").write_text(text)
    return root


def main() -> int:
    compile_acrtasks()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    engine = DockerEngine.start()
    speedup = 0.0
    try:
        ensure_base_image(engine.docker_host)
        env = {**os.environ, "DOCKER_HOST": engine.docker_host}
        subprocess.run([sys.executable, "-m", "invoke", "build", "--version", VERSION], cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"1. push of the 4 examples (with backend's alias: 5 refs), median of {rounds} rounds")
        speedup = compare(env, rounds)
        print(f"   speed-up {speedup:.2f}x (target >= 1.5): {'met' if speedup >= 1.5 else 'MISSED'}")
        big = big_project()
        try:
            subprocess.run([sys.executable, "-m", "invoke", "build", "--version", VERSION, "--parallel", "4"],
                           cwd=big, env=env, check=True, stdout=subprocess.DEVNULL)
            print(f"2. 4 components with a 20 MB layer each on the shared base, median of {rounds} rounds")
            print(f"   speed-up {compare(env, rounds, big):.2f}x (reported)")
        finally:
            shutil.rmtree(big, ignore_errors=True)
    finally:
        import docker

        api = docker.APIClient(base_url=engine.docker_host, timeout=60)
        for image in api.images(name=None):
            for tag in image.get("RepoTags") or []:
                if tag.endswith(f":{VERSION}"):
                    api.remove_image(tag)
        engine.stop()
    return 0 if speedup >= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
