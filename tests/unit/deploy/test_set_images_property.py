"""Property: set-images changes exactly the bytes of the values that are release images, nothing else.

Hypothesis writes compose files, Kubernetes manifests and Helm values whose other values (hosts, users,
passwords, ``host:port``, URLs, interpolated secrets, ports as tags) are made of the dependency and
component names. Each generated value knows what it is; the oracle below writes the expected ref with
its own string formulas, not with acrtasks' naming code, and the whole file is compared byte for byte.
"""

import json
import tempfile
import textwrap
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acrtasks.config import load_config, resolve
from acrtasks.deploy import rewrite
from acrtasks.deploy.refs import ReleaseRefs

R = "registry.cn-hangzhou.aliyuncs.com/team"
V = "v2.0.1"
BUILD_TOML = textwrap.dedent("""
    [project]
    name = "shop"
    image_prefix = "shop-"
    [components.api]
    context = "."
    [components.web]
    context = "."
    [deps]
    images = ["postgres:15-alpine", "redis:7-alpine", "minio/minio:RELEASE.1"]
""")
WORDS = ["postgres", "redis", "minio", "api", "web", "shop-api", "shop-web", "shop", "team", "minio/minio"]


def component(name):
    return f"{R}/shop:{name}-{V}"  # ACR flat layout: one repository, the component in the tag


# What an image value becomes: (value as written, expected new value)
OURS = st.sampled_from([
    ("shop-api:v1.0.0", component("api")), ("shop-web:v1", component("web")),
    (f"{R}/shop:api-v0.9", component("api")),
    ("postgres:15-alpine", f"{R}/postgres:15-alpine"), ("docker.io/library/redis:7-alpine", f"{R}/redis:7-alpine"),
    ("minio/minio:RELEASE.1", f"{R}/minio:RELEASE.1"), (f"{R}/postgres:15-alpine", f"{R}/postgres:15-alpine"),
])
OURS_COMPOSE = st.one_of(OURS, st.sampled_from([
    ("shop-api:${TAG:-v1}", f"{R}/shop:api-${{TAG:-{V}}}"),
    ("postgres:${PG_TAG:-15-alpine}", f"{R}/postgres:${{PG_TAG:-15-alpine}}"),
]))
NOT_OURS_IMAGES = st.sampled_from(["busybox:1.36", "bitnami/postgresql:15", "quay.io/x/redis:7-alpine",
                                   "postgres:14", "redis", "shop-db:v1", "nginx:1.25"])


@st.composite
def traps(draw):
    """A value that is not an image but is made of the release's names."""
    word = draw(st.sampled_from(WORDS))
    port = draw(st.sampled_from(["5432", "6379", "9000", "8080", "80"]))
    variable = word.upper().replace("-", "_").replace("/", "_") + "_HOST"
    return draw(st.sampled_from([
        word, f"{word}:{port}", f"http://{word}:{port}/path", f"postgres://user:pw@{word}:{port}/db",
        f"${{PASSWORD:-{word}}}", f"${{HOST:-{word}}}:{port}", f"{word}:${{PORT:-{port}}}", f"${{{variable}:-{word}}}", f"{word}-{word}", f"{word}.svc.cluster.local",
        "postgres:14", "redis:latest", f"{word}:{V}" if word in ("api", "web", "postgres") else word,
        "$$literal", f"--host={word}", "${IMAGE:-shop-api:v1}", f"${{REGISTRY:-{R}}}/shop:api-v1",
    ]))


KEYS = st.from_regex(r"[A-Z][A-Z_]{0,6}", fullmatch=True)


@st.composite
def entries(draw, image_values):
    """(key, value as written, expected value) for environment-like places: traps and images mixed."""
    count = draw(st.integers(1, 5))
    found = []
    for index in range(count):
        key = f"{draw(KEYS)}{index}"
        if draw(st.booleans()):
            value, new = draw(image_values)
        else:
            value = draw(traps())
            new = value
        found.append((key, value, new))
    return found


def q(value):
    return json.dumps(value)  # YAML double-quoted: any value, byte-exact, on one line


@st.composite
def compose_file(draw):
    before, after = ["services:"], ["services:"]
    for index in range(draw(st.integers(1, 4))):
        name = f"{draw(st.sampled_from(WORDS)).replace('/', '-')}{index}"
        lines = [[f"  {name}:"] * 2]
        if draw(st.booleans()):
            value, new = draw(OURS_COMPOSE)
        else:
            value = new = draw(NOT_OURS_IMAGES)
        lines.append([f"    image: {q(value)}", f"    image: {q(new)}"])
        trap = draw(traps())
        lines.append([f"    hostname: {q(trap)}"] * 2)
        env = draw(entries(OURS_COMPOSE))
        if draw(st.booleans()):
            lines.append(["    environment:"] * 2)
            lines += [[f"      - {q(f'{k}={v}')}", f"      - {q(f'{k}={n}')}"] for k, v, n in env]
        else:
            lines.append(["    environment:"] * 2)
            lines += [[f"      {k}: {q(v)}", f"      {k}: {q(n)}"] for k, v, n in env]
        lines.append([f"    command: [{q(draw(traps()))}, {q(draw(traps()))}]"] * 2)
        before += [b for b, _ in lines]
        after += [a for _, a in lines]
    return "\n".join(before) + "\n", "\n".join(after) + "\n"


@st.composite
def kubernetes_file(draw):
    env = draw(entries(OURS))
    data = draw(entries(OURS))
    value, new = draw(OURS) if draw(st.booleans()) else (draw(NOT_OURS_IMAGES),) * 2
    pairs = [["apiVersion: apps/v1"] * 2, ["kind: Deployment"] * 2, ["metadata: {name: app}"] * 2,
             ["spec:"] * 2, ["  template:"] * 2, ["    spec:"] * 2, ["      containers:"] * 2,
             ["        - name: app"] * 2, [f"          image: {q(value)}", f"          image: {q(new)}"],
             [f"          args: [{q(draw(traps()))}]"] * 2, ["          env:"] * 2]
    for key, old, expected in env:
        pairs += [[f"            - name: {key}"] * 2, [f"              value: {q(old)}", f"              value: {q(expected)}"]]
    pairs += [["---"] * 2, ["apiVersion: v1"] * 2, ["kind: ConfigMap"] * 2, ["metadata: {name: cfg}"] * 2, ["data:"] * 2]
    pairs += [[f"  {key}: {q(old)}", f"  {key}: {q(expected)}"] for key, old, expected in data]
    return "\n".join(b for b, _ in pairs) + "\n", "\n".join(a for _, a in pairs) + "\n"


@st.composite
def helm_file(draw):
    pairs = []
    for index in range(draw(st.integers(1, 3))):
        pairs.append([f"part{index}:"] * 2)
        if draw(st.booleans()):
            which = draw(st.sampled_from(["api", "postgres"]))
            if which == "api":
                pairs += [["  image:"] * 2, ['    repository: "shop-api"', f'    repository: "{R}/shop"'],
                          ['    tag: "v1"', f'    tag: "api-{V}"']]
            else:
                pairs += [["  image:"] * 2, ['    repository: "postgres"', f'    repository: "{R}/postgres"'],
                          ['    tag: "15-alpine"'] * 2]
        else:
            pairs += [["  image:"] * 2, ['    repository: "bitnami/redis"'] * 2, ['    tag: "7-alpine"'] * 2]
        for key in ("host", "user", "password", "url"):
            pairs.append([f"  {key}: {q(draw(traps()))}"] * 2)
    return "\n".join(b for b, _ in pairs) + "\n", "\n".join(a for _, a in pairs) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(compose=compose_file(), kubernetes=kubernetes_file(), helm=helm_file())
def test_set_images_changes_exactly_the_image_values(compose, kubernetes, helm):
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "build.toml").write_text(BUILD_TOML)
        files = {"compose.yaml": compose, "deploy.yaml": kubernetes, "values.yaml": helm}
        for name, (before, _after) in files.items():
            (root / name).write_text(before)
        settings_ = resolve(load_config(root / "build.toml"), registry=R, version=V)
        planner = rewrite.Planner(ReleaseRefs(settings_), [root / name for name in files], environ={})
        plans = planner.plan()
        assert planner.errors == []
        rewrite.write(plans)
        for name, (_before, after) in files.items():
            assert (root / name).read_text() == after, name
