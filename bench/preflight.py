"""What the preflight costs: `inv build push` of the four examples, with it and with --no-preflight.

Same run, same engine (the host's kind), a loopback registry; the builds hit the engine's cache after a warm-up
and the registry already has every blob, so what is left is start-up, tagging, the pushes' round trips and
the preflight (one blob upload opened and cancelled per target namespace: here one). Reported, not gated: the
preflight is a correctness check, and its target is "small next to a build". Also through a 20 ms round trip.
Usage: python bench/preflight.py [rounds]
"""

import os
import statistics
import subprocess
import sys
import time

from benchlib import REPO, compile_acrtasks  # noqa: E402 - bench/ is on sys.path when run

sys.path.insert(0, str(REPO / "tests"))

from harness import DockerEngine, LatencyRelay, Registry, ensure_base_image  # noqa: E402


def chain(env, target: str, *extra) -> float:
    started = time.perf_counter()
    # --rebuild: every round builds and pushes as the first did (the release record would skip the builds)
    subprocess.run([sys.executable, "-m", "invoke", "build", "--registry", target, "--version", "bench",
                    "--progress", "quiet", "--rebuild", *extra, "push"], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    compile_acrtasks()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    engine = DockerEngine.start()
    registry = Registry().start()
    relay = LatencyRelay(registry.port, 0.010)  # 10 ms each way
    try:
        ensure_base_image(engine.docker_host)
        env = {**os.environ, "DOCKER_HOST": engine.docker_host}
        print(f"`inv build push` of the 4 examples (cached builds, blobs already there), median of {rounds}:")
        for label, host in (("loopback", registry.host), ("20 ms round trip", relay.host)):
            target = f"{host}/ai-infra-matrix"
            chain(env, target)  # warm-up: builds cached, blobs in the registry
            times = {"with": [], "without": []}
            for _ in range(rounds):
                times["with"].append(chain(env, target))
                times["without"].append(chain(env, target, "--no-preflight"))
            with_, without = (statistics.median(times[k]) for k in ("with", "without"))
            print(f"  {label:<17} with preflight {with_:.2f} s, without {without:.2f} s: "
                  f"+{(with_ - without) * 1000:.0f} ms ({with_ / without:.2f}x)")
        return 0
    finally:
        relay.close()
        registry.remove()
        engine.stop()


if __name__ == "__main__":
    sys.exit(main())
