"""The four example components built by BuildKit through acrtasks, by a shell, and by the classic builder.

Same run, same engine, every build --no-cache with the examples' build args:
  (a) inv build --backend buildkit --parallel 4
  (b) four `DOCKER_BUILDKIT=1 docker build` started in parallel by a shell (the CLI acrtasks chose)
  (c) inv build --backend classic --parallel 4
Targets: (a) <= 1.05x the time of (b); (c)/(a) >= 1.2. Exits 1 when missed.
Usage: python bench/build_backends.py [rounds]
"""

import os
import statistics
import subprocess
import sys
import time

from benchlib import REPO, compile_acrtasks  # noqa: E402 - bench/ is on sys.path when run

sys.path.insert(0, str(REPO / "tests"))

from harness import DockerEngine, ensure_base_image  # noqa: E402

COMPONENTS = ("backend", "frontend", "nginx", "jupyterhub")
ARGS = {"backend": {"VERSION": "bench"}, "frontend": {"VERSION": "bench", "BUILD_MODE": "prod"},
        "nginx": {"VERSION": "bench"}, "jupyterhub": {"VERSION": "bench"}}


def timed(args, env, **kwargs) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - started


def inv_build(env, backend: str) -> float:
    return timed([sys.executable, "-m", "invoke", "build", "--backend", backend, "--parallel", "4", "--no-cache",
                  "--version", f"bench-{backend}"], env, cwd=REPO)


def shell_build(env, cli: str) -> float:
    """What a user would write: four builds in the background, then wait."""
    lines = []
    for name in COMPONENTS:
        args = " ".join(f"--build-arg {k}={v} --build-arg BUILD_ENV=production --build-arg DEBUG_MODE=false"
                        for k, v in ARGS[name].items())
        lines.append(f"{cli} build --no-cache -q {args} -t ai-infra-{name}:bench-shell "
                     f"{REPO / 'examples/ai-infra-matrix' / name} >/dev/null &")
    script = "set -e\n" + "\n".join(lines) + "\nfor job in $(jobs -p); do wait $job; done\n"
    return timed(["bash", "-c", script], {**env, "DOCKER_BUILDKIT": "1"})


def main() -> int:
    compile_acrtasks()
    from acrtasks.build.backends.detect import docker_clis

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    cli = next((c for c in docker_clis() if c.buildkit), None)
    if cli is None:
        print("no docker CLI with BuildKit on PATH; nothing to compare")
        return 1
    engine = DockerEngine.start()
    missed = []
    try:
        ensure_base_image(engine.docker_host)
        env = {**os.environ, "DOCKER_HOST": engine.docker_host}
        inv_build(env, "buildkit")  # warm-up: the base image into BuildKit's store, the context paths
        times = {"a": [], "b": [], "c": []}
        for _ in range(rounds):
            times["a"].append(inv_build(env, "buildkit"))
            times["b"].append(shell_build(env, cli.path))
            times["c"].append(inv_build(env, "classic"))
        median = {key: statistics.median(values) for key, values in times.items()}
        labels = {"a": "inv build --backend buildkit --parallel 4", "b": f"4 x `{cli.path} build` in a shell",
                  "c": "inv build --backend classic --parallel 4"}
        print(f"the 4 examples, --no-cache, median of {rounds} rounds, {os.cpu_count()} cores, CLI {cli.describe()}")
        for key in "abc":
            print(f"  ({key}) {labels[key]:<44} {median[key]:.2f} s  ({', '.join(f'{t:.2f}' for t in times[key])})")
        ab, ca = median["a"] / median["b"], median["c"] / median["a"]
        print(f"  (a)/(b) = {ab:.2f}x the shell's time (target <= 1.05): {'met' if ab <= 1.05 else 'MISSED'}")
        print(f"  (c)/(a) = {ca:.2f}x faster than classic (target >= 1.2): {'met' if ca >= 1.2 else 'MISSED'}")
        missed = [name for name, ok in (("vs shell", ab <= 1.05), ("vs classic", ca >= 1.2)) if not ok]
    finally:
        import docker

        api = docker.APIClient(base_url=engine.docker_host, timeout=60)
        for name in COMPONENTS:
            for tag in ("bench-buildkit", "bench-classic", "bench-shell"):
                try:
                    api.remove_image(f"ai-infra-{name}:{tag}")
                except docker.errors.APIError:
                    pass
        engine.stop()
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
