"""Compose files and ``.env`` files read as Docker Compose 2.40 reads them: generated projects, compared with
``docker-compose config`` (the oracle, tests/harness/compose.py).

Compared: each service's image as compose resolves it (``.env``, the process environment, interpolation), and
whether compose takes the file at all. The generators lean on the places where Python and Go differ: white
space (Go's ``unicode.IsSpace`` has no U+001C-U+001F; its regexp ``\\s`` is ASCII), case folding (Go's ``(?i)``
takes the long s and the Kelvin sign, Python's ``re.I`` the Turkish i's), YAML 1.1 against YAML 1.2 scalars,
several documents in one file, a key written twice.
"""

import tempfile
from pathlib import Path

import pytest
from harness import compose_binary, compose_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acrtasks.compose.project import compose_images, environment
from acrtasks.compose.template import TemplateError
from acrtasks.errors import UsageError
from acrtasks.util import inputs

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

NAMES = ["A", "B", "K", "KX", "ıx", "ſx", "Kx", "a.b", "x-y", "İ"]
SPACES = ["", " ", "\t", "\xa0", "\x1c", "\x1f", "\x85", "\u2003", "\v"]
PIECES = ["v", "w w", "$A", "${B}", "${A:-d}", "${B-e}", "${K:+r}", "$ıx", "${ſx}", "$Kx", "${KX}", " #c", "#h",
          "\\n", "\\$A", "$$", "\xa0", "\x1f", "'", '"', ":", "="]


@st.composite
def dotenv_texts(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        prefix = draw(st.sampled_from(["", "export ", "export\xa0", "export\t", "export\x1c"] + SPACES))
        key = draw(st.sampled_from(NAMES))
        separator = draw(st.sampled_from(["=", "=", ": ", " = ", "\xa0=", ""]))
        quote = draw(st.sampled_from(["", "", "'", '"']))
        value = "".join(draw(st.lists(st.sampled_from(PIECES), max_size=3)))
        if quote:
            value = value.replace(quote, "")
        trailing = draw(st.sampled_from(SPACES))
        lines.append(f"{prefix}{key}{separator}{quote}{value}{quote}{trailing}")
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


IMAGES = st.lists(st.sampled_from(["img", "$A", "${B}", "${K:-k}", "$ıx", "${ſx}", "$Kx", "${KX-kel}", "${A}${B}",
                                   ":${A:-t}", "/$ſx", "${ıx}"]), min_size=1, max_size=3).map("".join)


@pytest.fixture(scope="module")
def oracle_dir():
    compose_binary()  # missing is a failure, as every integration test's engine
    with tempfile.TemporaryDirectory(prefix="acr-compose-oracle-") as directory:
        yield Path(directory)


def _write(directory: Path, compose: str, dotenv=None) -> None:
    (directory / "compose.yaml").write_text(compose, encoding="utf-8")
    env_file = directory / ".env"
    if dotenv is None:
        env_file.unlink(missing_ok=True)
    else:
        env_file.write_bytes(dotenv.encode("utf-8"))


@SETTINGS
@given(dotenv=dotenv_texts(), images=st.lists(IMAGES, min_size=1, max_size=3),
       process=st.dictionaries(st.sampled_from(["A", "K", "ſx"]), st.sampled_from(["p", "", "q$"]), max_size=2))
def test_images_and_dotenv_as_compose_reads_them(oracle_dir, dotenv, images, process):
    services = "".join(f"  s{n}:\n    image: 'r{image}'\n" for n, image in enumerate(images))
    _write(oracle_dir, f"services:\n{services}", dotenv)
    ok, theirs = compose_config(oracle_dir, process)
    try:
        env = environment(oracle_dir, process)
        ours = [env.resolve(f"r{image}")[0] for image in images]
    except (UsageError, TemplateError) as exc:
        assert not ok, f"compose took it ({theirs}); we refused: {exc}"
        return
    assert ok, f"compose refused it ({theirs}); we read {ours}"
    assert [_unescaped(theirs["services"][f"s{n}"]["image"]) for n in range(len(images))] == ours


def _unescaped(value: str) -> str:
    """``config`` prints a literal ``$`` as ``$$`` (so that its output reads back the same)."""
    return value.replace("$$", "$")


# Plain scalars where YAML 1.1 (PyYAML's default) and Go's yaml.v3 (compose's) disagree, and their neighbours.
SCALARS = ["yes", "no", "on", "off", "y", "n", "Yes", "ON", "1:20", "190:20:30", "2001-12-14", "2001-12-14t21:59:43Z",
           "2001-12-14 21:59:43.10", "2001-13-45", "2001-02-29", "2000-02-29", "2001-1-2", "0x1F", "0o17", "0b101",
           "1_000", ".5", ".inf", "-.Inf", ".nan", "~", "null", "Null", "1e3", "08", "0777", "+12", "-0x1F", "12:30",
           "0x", "1.2.3", "true", "TRUE", "tRue", "0x10000000000000000", "-9223372036854775809", "12e", "1_2.5",
           "+.5", "._5", "3."]


def _image_reading(directory: Path, text: str):
    """Our reading of services.s.image: ("str", value), ("other", tag) or ("refused", message)."""
    try:
        roots = inputs.compose_yaml(text, directory / "compose.yaml", "compose file")
    except UsageError as exc:
        return "refused", str(exc)
    image = inputs.node_get(inputs.node_get(inputs.node_get(roots[0], "services"), "s"), "image")
    return ("str", image.value) if inputs.is_str(image) else ("other", image.tag)


def _compare_scalar(directory: Path, scalar: str) -> None:
    text = f"services:\n  s:\n    image: {scalar}\n"
    _write(directory, text)
    ok, theirs = compose_config(directory, {})
    kind, ours = _image_reading(directory, text)
    if ok:
        assert (kind, ours) == ("str", _unescaped(theirs["services"]["s"]["image"])), scalar
    else:
        assert kind != "str", f"{scalar!r}: compose refused it ({theirs}); we read the string {ours!r}"


@pytest.mark.parametrize("scalar", SCALARS)
def test_documented_scalars_as_compose_types_them(oracle_dir, scalar):
    _compare_scalar(oracle_dir, scalar)


@SETTINGS
@given(st.text(alphabet="0123456789+-._:eExXoObBtTZ ynYNf~", min_size=1, max_size=10).filter(
    lambda s: s.strip() == s and not s.startswith(("- ", "-\t")) and ": " not in s and " #" not in s))
def test_generated_scalars_as_compose_types_them(oracle_dir, scalar):
    _compare_scalar(oracle_dir, scalar)


@pytest.mark.parametrize("text, images", [
    # a second document merges over the first, as compose merges -f files
    ("services:\n  s:\n    image: a\n---\nservices:\n  s:\n    image: b\n  t:\n    image: c\n", ["b", "c"]),
    ("services:\n  s:\n    image: a\n---\nservices:\n  s:\n    build: .\n", []),
    ("---\nservices:\n  t:\n    image: c\n---\nservices:\n  t:\n    image: d\n", ["d"]),
])
def test_documents_merge_as_compose_merges_them(oracle_dir, text, images):
    _write(oracle_dir, text)
    ok, theirs = compose_config(oracle_dir, {})
    assert ok, theirs
    assert sorted(s["image"] for s in theirs["services"].values() if "build" not in s) == images
    assert sorted(compose_images(oracle_dir / "compose.yaml", "zz/", {})[0]) == images


def test_an_empty_document_among_others_is_refused_as_compose_refuses_it(oracle_dir):
    _write(oracle_dir, "services:\n  s:\n    image: a\n---\n")
    ok, theirs = compose_config(oracle_dir, {})
    assert not ok and "must be a mapping" in theirs
    with pytest.raises(UsageError, match="the document must be a mapping"):
        compose_images(oracle_dir / "compose.yaml", "zz/", {})


@pytest.mark.parametrize("text", [
    "services:\n  s:\n    image: a\n    image: b\n",
    "services:\n  s:\n    image: a\n  s:\n    image: b\n",
    "services:\n  s:\n    image: a\n    environment:\n      X: 1\n      X: 2\n",
    "services:\n  s:\n    image: a\nservices:\n  t:\n    image: b\n",
])
def test_a_key_written_twice_is_refused_as_compose_refuses_it(oracle_dir, text):
    _write(oracle_dir, text)
    ok, theirs = compose_config(oracle_dir, {})
    assert not ok and "already defined" in theirs
    with pytest.raises(UsageError, match=r"compose.yaml:\d+: key .* is already defined on line \d+"):
        compose_images(oracle_dir / "compose.yaml", "zz/", {})
