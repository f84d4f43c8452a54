"""Start-up cost of `inv test-naming` against `inv --version` (the floor: Python + Invoke), same run.

Target: ratio <= 1.25; exits 1 when missed. Usage: python bench/cli_latency.py [rounds]
"""

import statistics
import subprocess
import sys
import time

from benchlib import REPO, compile_acrtasks  # noqa: E402 - bench/ is on sys.path when run


def wall(args) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


TARGET = 1.25  # issue #17


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    compile_acrtasks()
    baseline, naming = [], []
    wall(["--version"])  # warm the page cache and .pyc files
    for _ in range(rounds):  # interleaved, so machine noise hits both alike
        baseline.append(wall(["--version"]))
        naming.append(wall(["test-naming"]))
    base, ours = statistics.median(baseline), statistics.median(naming)
    print(f"inv --version      median {base * 1000:.0f} ms over {rounds} runs")
    print(f"inv test-naming    median {ours * 1000:.0f} ms over {rounds} runs")
    ratio = ours / base
    print(f"ratio {ratio:.2f} (target <= {TARGET}): {'met' if ratio <= TARGET else 'MISSED'}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
