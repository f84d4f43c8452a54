#!/usr/bin/env bash
# Quick start: build the bundled examples and push them, ACR-style (flat), to a throwaway local registry.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/provision.sh
exec .venv/bin/python scripts/demo.py "$@"
