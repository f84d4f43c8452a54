"""promote: a 400 MB release moved within a registry (mounts only) and fanned out to three registries at once.

The release: four components, each a 100 MB layer of its own over a 2 MB shared base, written straight into a
loopback registry A (namespace team) with its release record. Each measurement promotes to fresh, empty
registries on loopback:
  (1) promote to A/prod (a second namespace of the same registry)   vs  promote into an empty registry (cold)
      target <= 0.25x, and no layer byte uploaded (read from A's request log)
  (2) promote to three registries at once                          vs  three promotes one after another
      target <= 0.65x, and the bytes read from A at most 1.1x the release's size (A's access log)
Exits 1 when a target is missed. Usage: python bench/promote.py [rounds]
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import REPO, compile_acrtasks  # noqa: E402 - bench/ is on sys.path when run

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from harness import Registry, RegistryWriter, make_layer  # noqa: E402

COMPONENTS = ("c0", "c1", "c2", "c3")
LAYER = 100 * 1000 * 1000
TARGETS = {"mount": 0.25, "fan": 0.65, "read": 1.1}


def seed(source: Registry) -> int:
    """The release v1 at <source>/team and its record; returns the bytes of its blobs and manifests."""
    from acrtasks.delivery import record as records
    from acrtasks.naming import ImageRef
    from acrtasks.registry.client import Clients

    writer = RegistryWriter(source)
    base = make_layer(2 * 1000 * 1000, 99)
    components, total, seen = {}, 0, set()
    for number, name in enumerate(COMPONENTS):
        layer = make_layer(LAYER, number)
        image = writer.image(f"team/demo-{name}", "v1", [base, layer])
        for blob in (base, layer):
            if blob["digest"] not in seen:
                seen.add(blob["digest"])
                total += blob["size"]
        total += image["size"] + 1000  # the manifest and (about) the config
        del layer
        ref = f"{source.host}/team/demo-{name}:v1"
        components[name] = {"refs": {ref: image["digest"]}, "digest": image["digest"], "input": {},
                            "platforms": ["linux/amd64"], "aliases": [], "latest": False}
    record = records.Record("demo", "v1", records.now(), components, ())
    records.write(Clients(), ImageRef(source.host, "team/demo", "release-v1"), record)
    return total


def project(root: Path) -> None:
    (root / "tasks.py").write_text("from acrtasks import ns  # noqa: F401\n")
    (root / "invoke.yaml").write_text("tasks:\n  executor_class: acrtasks.ChainExecutor\n")
    (root / "build.toml").write_text('[project]\nname = "demo"\nimage_prefix = "demo-"\n' + "".join(
        f'[components.{name}]\ncontext = "."\n' for name in COMPONENTS))


def promote(root: Path, env: dict, source: Registry, *destinations: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "invoke", "promote", "--version", "v1", "--from", f"{source.host}/team",
                    *(arg for dest in destinations for arg in ("--to", dest))], cwd=root, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def blob_bytes_read(source: Registry, since: int) -> int:
    """Bytes of blobs the registry served after log offset ``since`` (its access log: status, bytes)."""
    with open(source.root / "registry.log", "rb") as handle:
        handle.seek(since)
        log = handle.read().decode(errors="replace")
    return sum(int(m.group(1)) for m in re.finditer(r'"GET \S+/blobs/sha256:[0-9a-f]{64} HTTP/[\d.]+" 200 (\d+)', log))


def main() -> int:
    compile_acrtasks()
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    work = Path(tempfile.mkdtemp(prefix="acrtasks-bench-promote-"))
    source = Registry(log_level="info").start()
    started = []
    env = {**os.environ, "ACRTASKS_CACHE_DIR": str(work / "cache"), "DOCKER_CONFIG": str(work / "docker")}

    def fresh() -> Registry:
        registry = Registry().start()
        started.append(registry)
        return registry

    def drop(registry: Registry) -> None:
        registry.remove()
        started.remove(registry)

    try:
        size = seed(source)
        root = work / "project"
        root.mkdir()
        project(root)
        times = {key: [] for key in ("mount", "cold", "fan", "seq")}
        uploaded, reads = [], []
        for number in range(rounds):
            offset = source.log_size()
            times["mount"].append(promote(root, env, source, f"{source.host}/prod{number}"))
            uploaded.append(len(source.uploaded_blobs(offset)))  # the records' two blobs, no layer
            cold = fresh()
            times["cold"].append(promote(root, env, source, f"{cold.host}/shop"))
            drop(cold)
            three = [fresh() for _ in range(3)]
            offset = source.log_size()
            times["fan"].append(promote(root, env, source, *(f"{r.host}/shop" for r in three)))
            reads.append(blob_bytes_read(source, offset))
            for registry in three:
                drop(registry)
            took = 0.0
            for _ in range(3):
                one = fresh()
                took += promote(root, env, source, f"{one.host}/shop")
                drop(one)
            times["seq"].append(took)
        median = {key: statistics.median(values) for key, values in times.items()}
        mount, fan, read = median["mount"] / median["cold"], median["fan"] / median["seq"], max(reads) / size
        print(f"a release of {size / 1e6:.0f} MB (4 components of 100 MB over a 2 MB base), loopback registries, "
              f"median of {rounds}:")
        print(f"  (1) promote to another namespace     {median['mount']:.2f} s, {max(uploaded)} blob(s) uploaded "
              "(the record's config and layer; no layer of the release)")
        print(f"      promote into an empty registry   {median['cold']:.2f} s")
        print(f"      ratio {mount:.2f} (target <= {TARGETS['mount']}): {'met' if mount <= TARGETS['mount'] else 'MISSED'}")
        print(f"  (2) promote to three registries      {median['fan']:.2f} s, {max(reads) / 1e6:.0f} MB read from "
              f"the source ({read:.2f}x the release; target <= {TARGETS['read']})")
        print(f"      three promotes one after another {median['seq']:.2f} s")
        print(f"      ratio {fan:.2f} (target <= {TARGETS['fan']}): {'met' if fan <= TARGETS['fan'] else 'MISSED'}")
        met = mount <= TARGETS["mount"] and fan <= TARGETS["fan"] and read <= TARGETS["read"] and max(uploaded) <= 2
        return 0 if met else 1
    finally:
        for registry in started:
            registry.remove()
        source.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
