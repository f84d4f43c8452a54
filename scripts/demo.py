"""Quick start, end to end: a throwaway engine (unless $DOCKER_HOST answers) and registry, the bundled
examples built and pushed in ACR flat layout, the registry's tags read back, everything torn down."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness import DockerEngine, Registry, ensure_base_image  # noqa: E402

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
        return done.returncode
    finally:
        if registry is not None:
            registry.remove()
        engine.stop()
        shutil.rmtree(docker_config, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
