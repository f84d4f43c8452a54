#!/usr/bin/env bash
# Provision a fresh Debian machine (as root) for acrtasks' tests, demo and benchmarks:
# Debian packages for a real engine and registry, then the package into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package
declare -A NEEDED=(
  [dockerd]=docker.io             # the engine (dockerd, containerd, runc)
  [docker-registry]=docker-registry  # the CNCF distribution registry
  [busybox]=busybox-static        # rootfs for the examples' offline base image
  [htpasswd]=apache2-utils        # bcrypt htpasswd files for auth registries
  [openssl]=openssl               # test CAs and certificates
  [git]=git                       # version derivation
  [skopeo]=skopeo                 # the push-deps benchmark's baseline
  [ip]=iproute2                   # the test engine's own bridge (never the host's docker0)
)
missing=()
for cmd in "${!NEEDED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDED[$cmd]}")
done
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# Debian 13's docker.io (26.1) leaves the CLI and buildx to packages of their own.
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = trixie ]; then
  for package in docker-cli docker-buildx; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "provision: missing ${missing[*]}; run as root (or apt-get install them)" >&2
    exit 1
  fi
  echo "provision: apt-get install ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# BuildKit builds need a docker CLI that can run them: Debian's docker.io (20.10) has BuildKit built in; a newer
# CLI needs the buildx plugin, and may come first on PATH. The build backends pick whichever can (README).
buildkit_cli=""
for cli in $(which -a docker 2>/dev/null); do
  major=$("$cli" --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')
  if { [ -n "$major" ] && [ "$major" -lt 23 ]; } || "$cli" buildx version >/dev/null 2>&1; then
    buildkit_cli=$cli
    break
  fi
done
if [ -z "$buildkit_cli" ]; then
  if [ "$(id -u)" = 0 ] && ! dpkg -s docker.io >/dev/null 2>&1 && ! dpkg -s docker-ce-cli >/dev/null 2>&1; then
    echo "provision: apt-get install docker.io (a docker CLI with BuildKit)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io >/dev/null
  else
    echo "provision: no docker CLI on PATH can build with BuildKit: install docker.io, or docker-buildx-plugin" >&2
    exit 1
  fi
fi

# The other Debian release's engine, unpacked beside the project (tests run on both; scripts/engines.sh).
bash scripts/engines.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# Byte-compile like a regular install does (an editable install skips it, and
# PYTHONDONTWRITEBYTECODE may be set): every `inv` start would recompile otherwise.
.venv/bin/python -m compileall -q acrtasks
