"""`inv push` into an empty registry: one at a time (--jobs 1) vs --jobs 4 (the default).

Same run, a fresh registry for every push.
1. The four examples (about 2 MB each, nearly all of it the shared busybox base) into a loopback registry.
   Target: --jobs 4 at least 1.5x faster than --jobs 1. Exits 1 when missed. Also printed: the CPU seconds
   the engine, the registry and `inv` spend per push, and from them the most any overlap could gain on this
   machine (Amdahl): wall(--jobs 1) / (S + (CPU - S) / cores), where S is the part no --jobs can overlap,
   `inv --dry push`'s wall (start-up, config, plan; one core busy).
2. The same through a relay that holds every byte 10 ms each way (a 20 ms round trip, as to a registry
   in another city): what users pushing over a WAN get (reported, no target).
3. Four components with 20 MB layers of their own on the same base (reported, no target).
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

from harness import DockerEngine, LatencyRelay, Registry, ensure_base_image  # noqa: E402

COMPONENTS = ("backend", "frontend", "nginx", "jupyterhub")
VERSION = "bench-push"
ROUND_TRIP = 0.020


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def inv_push(env, registry_host: str, jobs: int, cwd: Path, dry: bool = False) -> None:
    subprocess.run([sys.executable, "-m", "invoke", *(["--dry"] if dry else []), "push", "--registry",
                    f"{registry_host}/bench", "--version", VERSION, "--jobs", str(jobs)],
                   cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)


def push(engine, env, jobs: int, cwd: Path = REPO, round_trip: float = 0.0):
    """Wall seconds of one `inv push`, and the CPU seconds engine + registry + inv spent in it."""
    registry = Registry().start()
    relay = LatencyRelay(registry.port, round_trip / 2) if round_trip else None
    try:
        before = cpu_seconds(engine.proc.pid) + cpu_seconds(registry.proc.pid)
        children = os.times()
        started = time.perf_counter()
        inv_push(env, relay.host if relay else registry.host, jobs, cwd)
        wall = time.perf_counter() - started
        after = os.times()
        cpu = cpu_seconds(engine.proc.pid) + cpu_seconds(registry.proc.pid) - before
        cpu += after.children_user + after.children_system - children.children_user - children.children_system
        return wall, cpu
    finally:
        if relay:
            relay.close()
        registry.remove()


def compare(engine, env, rounds: int, cwd: Path = REPO, round_trip: float = 0.0):
    runs = {1: [], 4: []}
    for _ in range(rounds):
        for jobs in runs:
            runs[jobs].append(push(engine, env, jobs, cwd, round_trip))
    for jobs, measured in runs.items():
        print(f"  --jobs {jobs}  {statistics.median(w for w, _ in measured):.2f} s  "
              f"({', '.join(f'{w:.2f}' for w, _ in measured)}); CPU {statistics.median(c for _, c in measured):.2f} s")
    return (statistics.median(w for w, _ in runs[1]) / statistics.median(w for w, _ in runs[4]),
            statistics.median(w for w, _ in runs[1]), statistics.median(c for _, c in runs[1]))


def serial_part(env, rounds: int) -> float:
    """Wall of `inv --dry push`: start-up, config and plan, which no --jobs can overlap."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        inv_push(env, "127.0.0.1:1", 4, REPO, dry=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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
        print(f"1. push of the 4 examples (with backend's alias: 5 refs) into a loopback registry, "
              f"median of {rounds} rounds")
        speedup, wall, cpu = compare(engine, env, rounds)
        print(f"   speed-up {speedup:.2f}x (target >= 1.5): {'met' if speedup >= 1.5 else 'MISSED'}")
        cores, serial = os.cpu_count() or 1, serial_part(env, rounds)
        ceiling = wall / (serial + max(0.0, cpu - serial) / cores)
        print(f"   --jobs 1 keeps {cpu / (wall * cores):.0%} of {cores} cores busy (engine + registry + inv: "
              f"{cpu:.2f} s CPU in {wall:.2f} s; {serial:.2f} s of it is `inv --dry push`); "
              f"no overlap can gain more than {ceiling:.2f}x here")
        print(f"2. the same through a {ROUND_TRIP * 1000:.0f} ms round trip (a registry in another city), "
              f"median of {rounds} rounds")
        print(f"   speed-up {compare(engine, env, rounds, round_trip=ROUND_TRIP)[0]:.2f}x (reported)")
        big = big_project()
        try:
            subprocess.run([sys.executable, "-m", "invoke", "build", "--version", VERSION, "--parallel", "4"],
                           cwd=big, env=env, check=True, stdout=subprocess.DEVNULL)
            print(f"3. 4 components with a 20 MB layer each on the shared base, loopback, median of {rounds} rounds")
            print(f"   speed-up {compare(engine, env, rounds, big)[0]:.2f}x (reported)")
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
