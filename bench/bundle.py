"""export and import against the tools they replace, side by side in one run, on loopback registries.

1. Export: the push-deps bench set (5 images, ~100 MB, one two-platform index) from a source registry plus the
   4 example components from the engine, into one bundle by `inv export`; against `skopeo copy --all` of each
   dependency to an `oci-archive:` plus one `docker save` of the components. Target: <= 1.0x.
2. Import into an empty registry: `inv import --registry` against `skopeo copy --all` from `oci-archive:` of
   each image. Target: <= 1.0x.
3. Peak memory of export and import of a 1 GB layer. Target: < 100 MB each (they stream).

Exits 1 when any target is missed. Usage: python bench/bundle.py [--skip-memory]   (BENCH_ROUNDS=3)
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import REPO, compile_acrtasks  # noqa: E402 - bench/ is on sys.path when run

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from harness import DockerEngine, Registry, RegistryWriter, ensure_base_image  # noqa: E402
from push_deps import MB, MISSED, SCRATCH, check, seed_set  # noqa: E402

COMPONENTS = ("backend", "frontend", "nginx", "jupyterhub")


def timed(args, **kwargs) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - started


def project(source_host: str, images, version: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix="acr-bench-bundle-"))
    SCRATCH.append(root)
    (root / "tasks.py").write_text("from acrtasks import ns  # noqa: F401\n")
    (root / "invoke.yaml").write_text("tasks:\n  executor_class: acrtasks.ChainExecutor\n")
    text = (f'[project]\nname = "ai-infra-matrix"\nimage_prefix = "ai-infra-"\n[build]\nversion = "{version}"\n'
            f'[deps]\nimages = {json.dumps([f"{source_host}/{i}" for i in images])}\n')
    for name in COMPONENTS:
        text += f'[components.{name}]\ncontext = "{REPO / "examples/ai-infra-matrix" / name}"\n'
    (root / "build.toml").write_text(text)
    return root


def main() -> int:
    compile_acrtasks()
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    engine = DockerEngine.start()
    source = Registry().start()
    scratch = Path(tempfile.mkdtemp(prefix="acr-bench-out-"))
    SCRATCH.append(scratch)
    env = {**os.environ, "DOCKER_HOST": engine.docker_host, "ACRTASKS_CACHE_DIR": str(scratch / "cache"),
           "DOCKER_CONFIG": str(scratch / "dockercfg")}
    version = f"bench{os.getpid()}"
    try:
        ensure_base_image(engine.docker_host)
        images = seed_set(RegistryWriter(source), oci=True)  # OCI-typed: skopeo reads them from a layout
        root = project(source.host, images, version)
        subprocess.run([sys.executable, "-m", "invoke", "build"], cwd=root, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        local = [f"ai-infra-{name}:{version}" for name in COMPONENTS]
        print(f"1. export: {len(images)} dependencies (~100 MB) + {len(COMPONENTS)} components from the engine; "
              f"median of {rounds} rounds")
        ours, theirs = [], []
        bundle = scratch / "bundle.tar"
        for number in range(rounds):
            for path in scratch.glob("*.tar"):
                path.unlink()
            ours.append(timed([sys.executable, "-m", "invoke", "export", "--output", str(bundle)], cwd=root, env=env))
            started = time.perf_counter()
            for index, image in enumerate(images):
                subprocess.run(["skopeo", "copy", "--all", "--quiet", "--src-tls-verify=false",
                                f"docker://{source.host}/{image}",
                                f"oci-archive:{scratch}/skopeo-{index}.tar:{source.host}/{image}"], check=True)
            subprocess.run(["docker", "save", "-o", str(scratch / "components.tar"), *local], env=env, check=True)
            theirs.append(time.perf_counter() - started)
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"   inv export                                   {a:.2f} s  ({', '.join(f'{t:.2f}' for t in ours)})")
        print(f"   skopeo copy --all to oci-archive + docker save {b:.2f} s  ({', '.join(f'{t:.2f}' for t in theirs)})")
        print(f"   ratio {a / b:.2f}x (target <= 1.0): {check('export', a / b <= 1.0)}")

        print(f"2. import of that bundle into an empty registry; median of {rounds} rounds")
        refs = json.loads(subprocess.run(["tar", "-xOf", str(bundle), "index.json"], capture_output=True,
                                         check=True).stdout)["manifests"]
        names = [entry["annotations"]["org.opencontainers.image.ref.name"] for entry in refs]
        ours, theirs = [], []
        for number in range(rounds):
            target = Registry().start()
            try:
                ours.append(timed([sys.executable, "-m", "invoke", "import", str(bundle), "--registry",
                                   f"{target.host}/ns"], cwd=root, env=env))
            finally:
                target.remove()
            target = Registry().start()
            try:
                started = time.perf_counter()
                for index, name in enumerate(names):
                    subprocess.run(["skopeo", "copy", "--all", "--quiet", "--dest-tls-verify=false",
                                    f"oci-archive:{bundle}:{name}", f"docker://{target.host}/ns/image{index}:1"],
                                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                theirs.append(time.perf_counter() - started)
            except subprocess.CalledProcessError:
                theirs.append(None)  # Docker-typed entries: skopeo does not read them from a layout
            finally:
                target.remove()
        a = statistics.median(ours)
        print(f"   inv import                                   {a:.2f} s  ({', '.join(f'{t:.2f}' for t in ours)})")
        readable = [t for t in theirs if t is not None]
        if readable:
            b = statistics.median(readable)
            print(f"   skopeo copy --all from oci-archive, per image {b:.2f} s")
            print(f"   ratio {a / b:.2f}x (target <= 1.0): {check('import', a / b <= 1.0)}")
        if "--skip-memory" not in sys.argv:
            memory(root, env, scratch)
    finally:
        subprocess.run(["docker", "rmi", *[f"ai-infra-{n}:{version}" for n in COMPONENTS]], env=env,
                       capture_output=True, check=False)
        source.remove()
        engine.stop()
        for path in SCRATCH:
            shutil.rmtree(path, ignore_errors=True)
    if MISSED:
        print(f"missed: {', '.join(MISSED)}")
    return 1 if MISSED else 0


MEASURE = ("import resource, subprocess, sys, time\n"
           "t = time.perf_counter()\n"
           "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
           "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def memory(root: Path, env: dict, scratch: Path) -> None:
    """A 1 GB layer (random bytes: incompressible) exported from a registry and imported into another."""
    import hashlib

    source, target = Registry().start(), Registry().start()
    try:
        writer = RegistryWriter(source)
        blob = scratch / "layer"
        digest = hashlib.sha256()
        with open(blob, "wb") as out:
            for _ in range(1000):
                chunk = os.urandom(MB)
                digest.update(chunk)
                out.write(chunk)
        layer = "sha256:" + digest.hexdigest()
        writer.blob("big/layer", path=blob, digest=layer)
        blob.unlink()
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
        config_digest = writer.blob("big/layer", config)
        media = "application/vnd.docker.distribution.manifest.v2+json"
        writer.manifest("big/layer", "1", {
            "schemaVersion": 2, "mediaType": media,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                       "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1000 * MB,
                        "digest": layer}]}, media)
        big = Path(tempfile.mkdtemp(prefix="acr-bench-big-"))
        SCRATCH.append(big)
        (big / "tasks.py").write_text("from acrtasks import ns  # noqa: F401\n")
        (big / "build.toml").write_text(f'[project]\nname = "big"\n[deps]\nimages = ["{source.host}/big/layer:1"]\n')
        bundle = scratch / "big.tar"
        for what, args in (("export", ["export", "--output", str(bundle), "--version", "1"]),
                           ("import", ["import", str(bundle), "--registry", f"{target.host}/big"])):
            out = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "invoke", *args], cwd=big,
                                 env=env, check=True, capture_output=True, text=True).stdout.split()
            seconds, rss = float(out[0]), int(out[1]) / 1024
            print(f"3. {what} of a 1 GB layer: {seconds:.1f} s, peak RSS {rss:.0f} MB (target < 100 MB: "
                  f"{check(what + ' memory', rss < 100)})")
    finally:
        source.remove()
        target.remove()


if __name__ == "__main__":
    sys.exit(main())
