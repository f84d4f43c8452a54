"""Quick start, end to end: a throwaway engine (unless $DOCKER_HOST answers) and registry, the bundled
examples built and pushed in ACR flat layout, the registry's tags read back; the next release (only what
changed is built) promoted to a second namespace; then the multi-platform
example (examples/multi-arch, linux/amd64 + linux/arm64 by buildx) on an engine with buildx, or why it was
skipped; everything torn down."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness import DockerEngine, HarnessError, Registry, ensure_base_image  # noqa: E402

VERSION = "v0.0.3.3"


def main() -> int:
    engine = DockerEngine.start()
    registry = None
    docker_config = tempfile.mkdtemp(prefix="acr-demo-")  # no credentials needed, and the user's stay untouched
    try:
        ensure_base_image(engine.docker_host)
        registry = Registry().start()
        target = f"{registry.host}/ai-infra-matrix"
        env = {**os.environ, "DOCKER_HOST": engine.docker_host, "DOCKER_CONFIG": docker_config}
        command = ["inv", "build", "push", "--registry", target, "--layout", "flat", "--version", VERSION]
        print(f"$ {' '.join(command)}    # throwaway registry at {registry.host}, ACR flat layout forced", flush=True)
        done = subprocess.run([sys.executable, "-m", "invoke", *command[1:]], cwd=REPO, env=env)
        if done.returncode == 0:
            print(f"\nTags now in {target}/ai-infra-matrix:")
            for tag in registry.tags("ai-infra-matrix/ai-infra-matrix"):
                print(f"  {target}/ai-infra-matrix:{tag}  {registry.digest('ai-infra-matrix/ai-infra-matrix', tag)}")
        if done.returncode != 0:
            return done.returncode
        done = next_release(registry, target, env)
        if done != 0:
            return done
        return multi_platform(engine, registry, target, docker_config)
    finally:
        if registry is not None:
            registry.remove()
        engine.stop()
        shutil.rmtree(docker_config, ignore_errors=True)


NEXT = "v0.0.3.4"


def next_release(registry: Registry, target: str, env: dict) -> int:
    """The next release builds what changed (nginx takes no {version} build arg: it is relabelled, not rebuilt),
    then is promoted to a second namespace of the registry: mounts only, nothing built."""
    for command in (["inv", "build", "push", "--registry", target, "--layout", "flat", "--version", NEXT],
                    ["inv", "promote", "--version", NEXT, "--layout", "flat", "--from", target,
                     "--to", f"{registry.host}/production"]):
        print(f"\n$ {' '.join(command)}", flush=True)
        done = subprocess.run([sys.executable, "-m", "invoke", *command[1:]], cwd=REPO, env=env)
        if done.returncode != 0:
            return done.returncode
    print(f"\nTags now in {registry.host}/production/ai-infra-matrix:")
    for tag in registry.tags("production/ai-infra-matrix"):
        print(f"  {tag}  {registry.digest('production/ai-infra-matrix', tag)}")
    return 0


def multi_platform(engine: DockerEngine, registry: Registry, target: str, docker_config: str) -> int:
    """examples/multi-arch on an engine whose CLI has buildx: this one, else Docker 26.1 if scripts/engines.sh
    unpacked it; otherwise say why it is skipped."""
    own = engine
    if not (engine.kind and engine.kind.plugins):
        try:
            own = DockerEngine.start("engine26")
        except HarnessError as exc:
            print(f"\nmulti-platform example skipped: it needs buildx, and {exc}")
            return 0
    try:
        if own is not engine:
            ensure_base_image(own.docker_host)
        plugins = Path(docker_config) / "cli-plugins"
        plugins.mkdir(exist_ok=True)
        for plugin in Path(own.kind.plugins).iterdir():
            if not (plugins / plugin.name).exists():
                (plugins / plugin.name).symlink_to(plugin)
        env = {**os.environ, "DOCKER_HOST": own.docker_host, "DOCKER_CONFIG": docker_config,
               "PATH": own.kind.path(os.environ.get("PATH", ""))}
        buildx = subprocess.run(["docker", "buildx", "version"], env=env, capture_output=True, text=True)
        if buildx.returncode != 0:
            print("\nmulti-platform example skipped: no docker CLI with the buildx plugin on PATH")
            return 0
        command = ["inv", "build", "--registry", target, "--layout", "flat", "--version", VERSION]
        print(f"\n$ cd examples/multi-arch && {' '.join(command)}    # Docker {own.kind.version}, buildx", flush=True)
        done = subprocess.run([sys.executable, "-m", "invoke", *command[1:]], cwd=REPO / "examples" / "multi-arch",
                              env=env)
        if done.returncode == 0:
            tag = f"agent-{VERSION}"
            print(f"\n{target}/ai-infra-matrix:{tag} is one index for "
                  f"{', '.join(registry.platforms('ai-infra-matrix/ai-infra-matrix', tag))}")
        return done.returncode
    finally:
        if own is not engine:
            own.stop()


if __name__ == "__main__":
    sys.exit(main())
