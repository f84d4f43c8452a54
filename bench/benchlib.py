"""What every benchmark here shares: where the repository is, and measuring the package as it is installed."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def compile_acrtasks() -> None:
    """Byte-compile acrtasks first, as an install does: with PYTHONDONTWRITEBYTECODE=1 (set on some machines)
    every `inv` start would otherwise recompile the modules edited since the last compile."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "acrtasks")], check=True)
