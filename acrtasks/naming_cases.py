"""The naming cases ``inv test-naming`` checks (the seed guide's own, then more), and what it prints.

Each case maps (registry, local image name, version) to the expected ref, or
to ``error: <text the message must contain>``. They run with the seed's
project (``ai-infra-matrix``, prefix ``ai-infra-``), whatever build.toml says,
so the table means the same in every repository.
"""

from typing import List, NamedTuple, Optional

from .errors import NamingError
from .naming import naming_for
from .release.images import release_of

SEED_PROJECT = "ai-infra-matrix"
SEED_PREFIX = "ai-infra-"


# NamedTuple, not a frozen dataclass: cheaper to define on every start (see config.Component).
class Case(NamedTuple):
    """One row: (registry, local name, version) and the ref, or ``error: ...``, it must give."""

    label: str
    registry: str
    name: str
    version: str
    expected: str
    layout: str = "auto"


SEED = "seed"
CASES: List[Case] = [
    # The seed guide's table, verbatim.
    Case(SEED, "xxx.aliyuncs.com/ai-infra-matrix", "ai-infra-backend", "v0.0.3.3",
         "xxx.aliyuncs.com/ai-infra-matrix/ai-infra-matrix:backend-v0.0.3.3"),
    Case(SEED, "xxx.aliyuncs.com/ai-infra-matrix", "ai-infra-frontend", "v0.0.3.3",
         "xxx.aliyuncs.com/ai-infra-matrix/ai-infra-matrix:frontend-v0.0.3.3"),
    Case(SEED, "xxx.aliyuncs.com", "ai-infra-nginx", "v0.0.3.3",
         "xxx.aliyuncs.com/ai-infra-matrix/ai-infra-matrix:nginx-v0.0.3.3"),
    Case(SEED, "xxx.aliyuncs.com/ai-infra-matrix", "postgres", "13",
         "xxx.aliyuncs.com/ai-infra-matrix/postgres:13"),
    Case(SEED, "docker.io/myuser", "ai-infra-backend", "v0.0.3.3", "docker.io/myuser/ai-infra-backend:v0.0.3.3"),
    Case(SEED, "localhost:5000", "ai-infra-frontend", "latest", "localhost:5000/ai-infra-frontend:latest"),
    Case(SEED, "", "ai-infra-backend", "v0.0.3.3", "ai-infra-backend:v0.0.3.3"),
    Case(SEED, "xxx.aliyuncs.com/my-namespace", "ai-infra-jupyterhub", "v0.0.3.3",
         "xxx.aliyuncs.com/my-namespace/ai-infra-matrix:jupyterhub-v0.0.3.3"),
    # ACR hosts of every edition are flat.
    Case("acr", "registry.cn-hangzhou.aliyuncs.com/team", "ai-infra-backend", "v1",
         "registry.cn-hangzhou.aliyuncs.com/team/ai-infra-matrix:backend-v1"),
    Case("acr", "crpi-x.cn-hangzhou.personal.cr.aliyuncs.com/ns", "ai-infra-nginx", "v1",
         "crpi-x.cn-hangzhou.personal.cr.aliyuncs.com/ns/ai-infra-matrix:nginx-v1"),
    Case("acr", "inst-registry.cn-shanghai.cr.aliyuncs.com", "ai-infra-backend", "v2",
         "inst-registry.cn-shanghai.cr.aliyuncs.com/ai-infra-matrix/ai-infra-matrix:backend-v2"),
    Case("acr", "registry-vpc.cn-beijing.aliyuncs.com/ns/", "redis", "7-alpine",
         "registry-vpc.cn-beijing.aliyuncs.com/ns/redis:7-alpine"),
    Case("acr", "registry.cn-hangzhou.aliyuncs.com/a/b", "ai-infra-backend", "v1", "error: one namespace level"),
    # Look-alikes are not ACR.
    Case("lookalike", "aliyuncs.com.evil.io/ns", "ai-infra-backend", "v1",
         "aliyuncs.com.evil.io/ns/ai-infra-backend:v1"),
    Case("lookalike", "notaliyuncs.com/ns", "ai-infra-backend", "v1", "notaliyuncs.com/ns/ai-infra-backend:v1"),
    # Other registries nest; ports stay with the host.
    Case("nested", "harbor.example.com/proj/sub", "ai-infra-backend", "v1",
         "harbor.example.com/proj/sub/ai-infra-backend:v1"),
    Case("nested", "localhost:5000/ns", "ai-infra-backend", "v1", "localhost:5000/ns/ai-infra-backend:v1"),
    Case("nested", "myuser", "ai-infra-backend", "v1", "docker.io/myuser/ai-infra-backend:v1"),
    Case("nested", "127.0.0.1:5000", "bitnami/redis", "7", "127.0.0.1:5000/redis:7"),
    Case("forced", "127.0.0.1:5000", "ai-infra-backend", "v1",
         "127.0.0.1:5000/ai-infra-matrix/ai-infra-matrix:backend-v1", layout="flat"),
    Case("forced", "xxx.aliyuncs.com/ns", "ai-infra-backend", "v1", "xxx.aliyuncs.com/ns/ai-infra-backend:v1",
         layout="nested"),
    # Registry strings that are rejected, with the fix in the message.
    Case("reject", "https://xxx.aliyuncs.com/ns", "ai-infra-backend", "v1", "error: did you mean 'xxx.aliyuncs.com/ns'"),
    Case("reject", "XXX.aliyuncs.com/ns", "ai-infra-backend", "v1", "error: upper case"),
    Case("reject", "xxx.aliyuncs.com//ns", "ai-infra-backend", "v1", "error: empty path segment"),
    Case("reject", " xxx.aliyuncs.com", "ai-infra-backend", "v1", "error: whitespace"),
    Case("reject", "localhost:99999", "ai-infra-backend", "v1", "error: port"),
    Case("reject", "docker.io", "ai-infra-backend", "v1", "error: Docker Hub needs a namespace"),
    # Tags must stay tags after composition.
    Case("tag", "xxx.aliyuncs.com/ns", "ai-infra-backend", "v1+build", "error: '+'"),
    Case("tag", "", "ai-infra-backend", "-v1", "error: must not start with '-'"),
    Case("dep", "", "postgres", "15", "error: needs a registry"),
]


def run_case(case: Case) -> str:
    """The actual result of ``case``: a ref, or ``error: <message>``."""
    try:
        naming = naming_for(SEED_PROJECT, SEED_PREFIX, case.registry, case.layout)
        return naming.map_image_name(case.name, case.version)
    except NamingError as exc:
        return f"error: {exc}"


def passed(case: Case, actual: Optional[str]) -> bool:
    if case.expected.startswith("error: "):
        return bool(actual) and actual.startswith("error: ") and case.expected[7:] in actual
    return actual == case.expected


def preview(settings) -> dict:
    """Every component, alias, latest and dependency name for the effective registry, each with its kind."""
    from .deps import component_bases
    from .release.images import NO_TARGET

    release = release_of(settings)
    bases = component_bases(settings)
    components = [{"component": images.name, "refs": [str(ref) for ref, _ in images.labelled],
                   "kinds": [kind for _, kind in images.labelled], "bases": bases.get(images.name, [])}
                  for images in release.components]
    deps: dict = {"images": []}
    if release.dependency_sources.images and release.deps_naming is None:
        deps["error"] = NO_TARGET
    else:
        deps["images"] = [{"source": str(d.source), "target": str(d.target), "unpinned": d.unpinned}
                          for d in release.dependencies]
    return {"registry": settings.registry, "layout": settings.layout, "version": settings.version,
            "components": components, "deps": deps}


def report(cases, preview: dict, show_cases: bool) -> None:
    """The test-naming output: one summary line (or the table of cases), then the preview."""
    from .util.console import Console

    console = Console()
    seed = sum(1 for case, actual in cases if case.label == SEED and passed(case, actual))
    total = sum(1 for case, actual in cases if passed(case, actual))
    if show_cases:
        rows = [(case.label, case.registry or "(none)", f"{case.name} @ {case.version}", case.expected, actual,
                 "pass" if passed(case, actual) else "FAIL") for case, actual in cases]
        console.table(("case", "registry", "input", "expected", "actual", "result"), rows, keep=2)
        console.say()
    console.say(f"naming cases: {total}/{len(cases)} pass ({seed}/{sum(1 for c, _ in cases if c.label == SEED)} "
                f"from the seed){'' if show_cases else '; --cases shows them'}")
    console.say(f"\nPreview for registry {preview['registry'] or '(none: local tags only)'} "
                f"(layout {preview['layout']}, version {preview['version']}):")
    rows = [(item["component"] if n == 0 else "", ref, kind) for item in preview["components"]
            for n, (ref, kind) in enumerate([*zip(item["refs"], item["kinds"]),
                                             *((base, "base (FROM)") for base in item["bases"])])]
    console.table(("component", "ref", "kind"), rows, keep=2)
    deps = preview["deps"]
    if deps.get("error"):
        console.say(f"\ndependencies: {deps['error']}")
    elif deps["images"]:
        console.say()
        console.table(("dependency", "target", "note"),
                      [(d["source"], d["target"], "unpinned: latest" if d["unpinned"] else "")
                       for d in deps["images"]], keep=2)
