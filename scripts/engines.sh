#!/usr/bin/env bash
# The engines the tests run on: this Debian release's docker.io (installed by provision.sh), the other
# release's, and sid's (below), unpacked with dpkg-deb -x under .cache/engines/<suite>/root. Debian 12 (docker.io 20.10, classic
# image store) and Debian 13 (docker.io 26.1, the containerd image store, docker-buildx) each get the other.
#
# Nothing of the host changes: apt runs with a sources list, lists, cache and an empty status of our own
# (Dir::State::status=/dev/null: apt resolves as if nothing were installed, and installs nothing; it only
# downloads), from the same archive the host's sources name. Fetched once; a finished unpack is kept.
#
# The other release's docker-registry comes too: the same distribution 2.8, built by another Go (Debian 12's
# with Go 1.19, whose SHA-256 does not use the CPU's SHA instructions; Debian 13's with Go 1.24, which does).
# bench/promote.py measures its fan-out against both builds (docs/testing.md); the tests use the host's.
set -euo pipefail
cd "$(dirname "$0")/.."

. /etc/os-release
case "${VERSION_CODENAME:-}" in
  bookworm) other=trixie;   packages=(docker.io containerd docker-cli docker-buildx docker-registry) ;;
  # 20.10: the CLI is inside docker.io; its dockerd links libdevmapper.so.1.02.1, which a Debian 13 host may
  # lack: unpacked beside it, found through LD_LIBRARY_PATH (tests/harness/engines.py).
  trixie)   other=bookworm; packages=(docker.io containerd libdevmapper1.02.1 docker-registry) ;;
  *) echo "engines: Debian 12 (bookworm) or 13 (trixie) expected, not '${VERSION_CODENAME:-unknown}'" >&2; exit 1 ;;
esac

# The archive the host already uses: the repository of its own release (not -security, not -updates).
archive=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
          awk -v suite="$VERSION_CODENAME" '$2 == suite { print $1; exit }')
if [ -z "$archive" ]; then
  echo "engines: no apt source for '$VERSION_CODENAME' on this machine to fetch other releases' packages from" >&2
  exit 1
fi

# unpack SUITE PACKAGE...: download the packages (and nothing they depend on) of SUITE and unpack them under
# .cache/engines/SUITE/root.
unpack() {
  local suite=$1 cache=.cache/engines/$1
  shift
  rm -rf "$cache"
  mkdir -p "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial" "$cache/debs" "$cache/root"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $archive $suite main" > "$cache/apt/sources.list"
  local apt_own=(
    -o "Dir::Etc::SourceList=$PWD/$cache/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$PWD/$cache/apt/lists" -o "Dir::Cache=$PWD/$cache/apt/cache"
    -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root
    -o "APT::Architecture=$(dpkg --print-architecture)" -q
  )
  echo "engines: fetching $* from $archive $suite"
  apt-get "${apt_own[@]}" update >/dev/null
  (cd "$cache/debs" && apt-get "${apt_own[@]}" download "$@" >/dev/null)
  for deb in "$cache"/debs/*.deb; do
    dpkg-deb -x "$deb" "$cache/root"
  done
  rm -rf "$cache/apt"  # the lists are 10 MB (sid's 20); the .debs stay, to show what was unpacked
}

cache=.cache/engines/$other
if ! { [ -x "$cache/root/usr/sbin/dockerd" ] && [ -x "$cache/root/usr/bin/docker-registry" ] &&
       [ -f "$cache/done" ]; }; then
  unpack "$other" "${packages[@]}"
  libs=$(find "$PWD/$cache/root" -maxdepth 3 -type d -name '*-linux-gnu' | paste -sd: -)
  LD_LIBRARY_PATH="$libs" "$cache/root/usr/sbin/dockerd" --version  # it runs here, or provisioning fails
  "$cache/root/usr/bin/docker-registry" --version
  touch "$cache/done"
fi

# From sid, all static or needing only Debian 12's glibc (2.34):
# - Docker 28.5 (docker.io, containerd 2.1, docker-cli, docker-buildx 0.29): the newest engine, for the
#   attestation and signing tests (engine28 in tests/harness/engines.py). sid's runc needs glibc 2.38, so it is
#   not fetched: the host's runc serves (docker.io on the host depends on it).
# - Docker Compose v2 (2.40 when this was written): the oracle that compose files and .env files are read as
#   compose reads them (tests/integration/test_compose_oracle.py).
# - crane (go-containerregistry): the peer bench/push_deps.py measures a cold mirror against.
# - cosign 3.1: signs and verifies in the supply-chain tests, as the oracle of what `inv sign` wrote.
sid=.cache/engines/sid/root
compose=$sid/usr/libexec/docker/cli-plugins/docker-compose
if ! { [ -x "$compose" ] && [ -x "$sid/usr/bin/crane" ] && [ -x "$sid/usr/sbin/dockerd" ] &&
       [ -x "$sid/usr/bin/cosign" ] && [ -f .cache/engines/sid/done ]; }; then
  unpack sid docker-compose crane docker.io containerd docker-cli docker-buildx cosign
  "$compose" version
  "$sid/usr/bin/crane" version
  "$sid/usr/sbin/dockerd" --version
  "$sid/usr/bin/containerd" --version
  "$sid/usr/libexec/docker/cli-plugins/docker-buildx" version
  "$sid/usr/bin/cosign" version >/dev/null
  touch .cache/engines/sid/done
fi
