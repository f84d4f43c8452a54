#!/usr/bin/env bash
# The test command: provision from nothing, then run every test against a real engine and registries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh
export ACRTASKS_REQUIRE_ENGINE="${ACRTASKS_REQUIRE_ENGINE:-1}"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure here" >&2
  exit 1
fi
exit "$rc"
