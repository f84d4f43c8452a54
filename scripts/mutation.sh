#!/usr/bin/env bash
# Mutation testing of the pure modules (naming, inputs, retry, chain, errors; the copy engine's manifests and
# blob location memory; the build backends' choice and command lines) against the unit tests,
# with mutmut (configured in pyproject.toml, [tool.mutmut]). Prints the kill rate; mutants/ is scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh
.venv/bin/python -m pip install -q --disable-pip-version-check 'mutmut==3.8.1'
rm -rf mutants
.venv/bin/mutmut run >/dev/null 2>&1 || true
.venv/bin/mutmut results --all true > mutants/results.txt 2>/dev/null
.venv/bin/python - <<'PY'
import re
from pathlib import Path
counts = {}
for line in Path("mutants/results.txt").read_text().splitlines():
    match = re.search(r": (\w[\w ]*)$", line)
    if match:
        counts[match.group(1)] = counts.get(match.group(1), 0) + 1
killed = counts.get("killed", 0)
total = sum(counts.values())
print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
print(f"mutation score: {killed} of {total} killed ({killed / total:.1%})" if total else "no mutants")
PY
