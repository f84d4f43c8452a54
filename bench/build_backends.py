"""The four example components built by BuildKit through acrtasks, by a shell, and by the classic builder,
on each engine: Docker 20.10 (classic store; BuildKit built into its CLI) and Docker 26.1 (containerd store;
BuildKit through buildx).

Same run, same engine, every build --no-cache with the examples' build args:
  (a) inv build --backend B --parallel 4 --progress quiet   (B: buildkit on 20.10, buildx on 26.1)
  (b) the same four builds started in parallel by a shell, with the same CLI and backend
      (`DOCKER_BUILDKIT=1 docker build` on 20.10, `docker buildx build --load` on 26.1)
  (c) inv build --backend classic --parallel 4
Targets on each engine: (a) <= 1.05x the time of (b); (c)/(a) >= 1.2. Exits 1 when one is missed.
Usage: python bench/build_backends.py [rounds]
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

from harness import ENGINE_KINDS, DockerEngine, ensure_base_image  # noqa: E402

COMPONENTS = ("backend", "frontend", "nginx", "jupyterhub")
ARGS = {"backend": {"VERSION": "bench"}, "frontend": {"VERSION": "bench", "BUILD_MODE": "prod"},
        "nginx": {}, "jupyterhub": {"VERSION": "bench"}}  # as build.toml passes them


def timed(args, env, **kwargs) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - started


def inv_build(env, backend: str) -> float:
    """``--progress quiet``, as the shell's builds are ``-q`` into /dev/null: the same output, none."""
    return timed([sys.executable, "-m", "invoke", "build", "--backend", backend, "--parallel", "4", "--no-cache",
                  "--progress", "quiet", "--version", f"bench-{backend}"], env, cwd=REPO)


def shell_build(env, cli: str, buildx: bool) -> float:
    """What a user would write: four builds in the background, then wait."""
    lines = []
    build = "buildx build --load" if buildx else "build"
    for name in COMPONENTS:
        args = " ".join(f"--build-arg {k}={v} --build-arg BUILD_ENV=production --build-arg DEBUG_MODE=false"
                        for k, v in ARGS[name].items())
        lines.append(f"{cli} {build} --no-cache -q {args} -t ai-infra-{name}:bench-shell "
                     f"{REPO / 'examples/ai-infra-matrix' / name} >/dev/null &")
    script = "set -e\n" + "\n".join(lines) + "\nfor job in $(jobs -p); do wait $job; done\n"
    return timed(["bash", "-c", script], {**env, "DOCKER_BUILDKIT": "1"})


def on_engine(kind: str, rounds: int) -> list:
    """The three ways on one engine; the targets missed there."""
    from acrtasks.components.backends.detect import docker_clis

    engine = DockerEngine.start(kind)
    config = Path(tempfile.mkdtemp(prefix="acrtasks-bench-docker-"))
    try:
        ensure_base_image(engine.docker_host)
        if engine.kind.plugins:
            (config / "cli-plugins").mkdir()
            for plugin in Path(engine.kind.plugins).iterdir():
                (config / "cli-plugins" / plugin.name).symlink_to(plugin)
        env = {**os.environ, "DOCKER_HOST": engine.docker_host, "DOCKER_CONFIG": str(config),
               "PATH": engine.kind.path(os.environ.get("PATH", ""))}
        os.environ["DOCKER_CONFIG"] = str(config)  # where the CLIs are asked for their plugins, as inv will
        clis = docker_clis(env["PATH"])
        cli = next((c for c in clis if c.buildx), None) or next((c for c in clis if c.buildkit), None)
        if cli is None:
            print(f"{kind}: no docker CLI with BuildKit on its PATH; nothing to compare")
            return [f"{kind}: no CLI"]
        backend = "buildx" if cli.buildx else "buildkit"
        inv_build(env, backend)  # warm-up: the base image into BuildKit's store, the context paths
        times = {"a": [], "b": [], "c": []}
        for _ in range(rounds):
            times["a"].append(inv_build(env, backend))
            times["b"].append(shell_build(env, cli.path, cli.buildx))
            times["c"].append(inv_build(env, "classic"))
        median = {key: statistics.median(values) for key, values in times.items()}
        labels = {"a": f"inv build --backend {backend} --parallel 4",
                  "b": f"4 x `docker {'buildx build' if cli.buildx else 'build'}` in a shell",
                  "c": "inv build --backend classic --parallel 4"}
        store = "containerd store" if engine.kind.containerd_store else "classic store"
        print(f"{kind} (Docker {engine.kind.version}, {store}): the 4 examples, --no-cache, median of {rounds} "
              f"rounds, {os.cpu_count()} cores, CLI {cli.describe()}")
        for key in "abc":
            print(f"  ({key}) {labels[key]:<44} {median[key]:.2f} s  ({', '.join(f'{t:.2f}' for t in times[key])})")
        ab, ca = median["a"] / median["b"], median["c"] / median["a"]
        print(f"  (a)/(b) = {ab:.2f}x the shell's time (target <= 1.05): {'met' if ab <= 1.05 else 'MISSED'}")
        print(f"  (c)/(a) = {ca:.2f}x faster than classic (target >= 1.2): {'met' if ca >= 1.2 else 'MISSED'}")
        return [f"{kind} {name}" for name, ok in (("vs shell", ab <= 1.05), ("vs classic", ca >= 1.2)) if not ok]
    finally:
        engine.stop()  # its data-root goes with it: nothing of the benchmark stays
        shutil.rmtree(config, ignore_errors=True)


def main() -> int:
    compile_acrtasks()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    missed = [name for kind in ENGINE_KINDS for name in on_engine(kind, rounds)]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
