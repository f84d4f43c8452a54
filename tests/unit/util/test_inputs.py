"""inputs.py: files from outside, bounded, decoded and shape-checked where they enter."""

import os
import stat
from pathlib import Path

import pytest

from acrtasks.errors import ConfigError, UsageError
from acrtasks.util import inputs


def test_read_text_decodes_utf8_and_drops_a_bom(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"\xef\xbb\xbfname = 'x'\n")
    assert inputs.read_text(path, "thing") == "name = 'x'\n"


def test_read_text_missing(tmp_path):
    assert inputs.read_text(tmp_path / "nope", "thing", missing_ok=True) is None
    with pytest.raises(UsageError, match=r"^thing .*nope: no such file$"):
        inputs.read_text(tmp_path / "nope", "thing")


def test_read_text_names_the_bad_byte_and_its_line(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"a\nb\nc\xff\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xff on line 3\); save it as UTF-8"):
        inputs.read_text(path, "thing", ConfigError)


def test_read_text_refuses_past_the_limit_without_reading_it_all(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 2048)
    assert inputs.read_text(path, "thing", limit=2048) == "x" * 2048
    with pytest.raises(UsageError, match="larger than"):
        inputs.read_text(path, "thing", limit=2047)


def test_read_text_directory_and_unreadable(tmp_path):
    with pytest.raises(UsageError, match="is a directory"):
        inputs.read_text(tmp_path, "thing")
    with pytest.raises(UsageError, match="cannot read it"):
        inputs.read_text(Path("/proc/version/x"), "thing")


def test_load_json(tmp_path):
    assert inputs.load_json('{"a": 1}', tmp_path, "thing") == {"a": 1}
    with pytest.raises(ConfigError, match="not valid JSON"):
        inputs.load_json("{", tmp_path, "thing", ConfigError)


def test_compose_yaml_plain_and_empty(tmp_path):
    [root] = inputs.compose_yaml("a: [1, 2]\n", tmp_path, "thing")
    assert [item.value for item in inputs.node_get(root, "a").value] == ["1", "2"]
    assert inputs.compose_yaml("", tmp_path, "thing") == []
    shared = "base: &b {x: 1}\none: *b\ntwo: *b\n"  # ordinary anchors stay fine
    [root] = inputs.compose_yaml(shared, tmp_path, "thing")
    assert inputs.node_get(inputs.node_get(root, "two"), "x").value == "1"


def _bomb(levels: int, fan: int = 9) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * fan)}]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * fan)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_alias_bombs_are_refused_quickly(tmp_path):
    import time

    assert inputs.compose_yaml(_bomb(4), tmp_path, "thing")  # 9^4 = 6,561 nodes: a big but honest document
    started = time.monotonic()
    with pytest.raises(UsageError, match="expand to more than 100000 nodes"):
        inputs.compose_yaml(_bomb(9), tmp_path, "thing")  # 9^9: a billion
    assert time.monotonic() - started < 2


def test_expanded_size_counts_aliases_each_time(tmp_path):
    import yaml

    node = yaml.compose("a: &a [1, 2, 3]\nb: [*a, *a]\n", Loader=yaml.SafeLoader)
    # mapping 1 + keys 2 + list a (1 + 3) + list b (1 + 2 * 4) = 16
    assert inputs._expanded_size(node) == 16


def test_recursive_aliases_and_deep_nesting_are_refused(tmp_path):
    with pytest.raises(UsageError, match="expand to more than"):
        inputs.compose_yaml("a: &a [*a]\n", tmp_path, "thing")
    with pytest.raises(UsageError, match="nested too deeply|maximum nesting depth"):  # ours, or libyaml's
        inputs.compose_yaml("[" * 20000 + "]" * 20000, tmp_path, "thing")


def test_bad_yaml_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        inputs.compose_yaml("a: [\n", tmp_path, "thing", ConfigError)
    assert "not valid YAML" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("value, kind, found", [
    ([1], dict, "a list"), ({}, list, "a mapping"), (5, str, "a number"), (True, int, "true/false"),
    (None, dict, "nothing"), (1.5, str, "a number"), ("x", int, "a string"),
])
def test_expect_names_what_it_found(tmp_path, value, kind, found):
    with pytest.raises(UsageError, match=f"where must be .*, not {found}$"):
        inputs.expect(value, kind, tmp_path, "where")


def test_expect_passes_the_right_kind(tmp_path):
    assert inputs.expect({"a": 1}, dict, tmp_path, "w") == {"a": 1}
    assert inputs.expect(3, int, tmp_path, "w") == 3


@pytest.mark.parametrize("value, kind, message", [
    ([1], dict, "must be a mapping, not a list"), ({}, list, "must be a list, not a mapping"),
    (5, str, "must be a string, not a number"), ("5", int, "must be a number, not a string"),
    (b"x", str, "must be a string, not bytes"), (None, list, "must be a list, not nothing"),
])
def test_expect_messages_word_for_word(tmp_path, value, kind, message):
    with pytest.raises(UsageError) as err:
        inputs.expect(value, kind, tmp_path / "f.yml", "services.db.image")
    assert str(err.value) == f"{tmp_path / 'f.yml'}: services.db.image {message}"


def test_yaml_messages_word_for_word(tmp_path):
    path = tmp_path / "c.yml"
    with pytest.raises(UsageError) as err:
        inputs.compose_yaml(_bomb(9), path, "compose file")
    assert str(err.value) == (f"compose file {path}: its aliases expand to more than 100000 nodes; refused "
                              "(a YAML alias bomb?)")
    with pytest.raises(UsageError) as err:
        inputs.compose_yaml("a: [\n", path, "compose file")
    assert str(err.value).startswith(f"compose file {path}: not valid YAML (while parsing a flow")
    # only node trees are built, never objects: a Python tag stays a tagged node, and it is not a string
    [root] = inputs.compose_yaml("a: !!python/object:os.system x\n", path, "compose file")
    assert not inputs.is_str(inputs.node_get(root, "a"))


def test_expanded_size_bound_is_exact(monkeypatch):
    import yaml

    monkeypatch.setattr(inputs, "MAX_YAML_NODES", 100)  # the same rule, on a document quick to build
    flat = "[" + ", ".join(["x"] * 99) + "]"  # the list plus its items: exactly the bound
    assert inputs._expanded_size(yaml.compose(flat, Loader=yaml.SafeLoader)) == 100
    assert inputs.compose_yaml(flat, Path("f"), "thing")[0].value[0].value == "x"
    over = "[" + ", ".join(["x"] * 100) + "]"
    assert inputs._expanded_size(yaml.compose(over, Loader=yaml.SafeLoader)) == 101
    with pytest.raises(UsageError, match="more than 100 nodes"):
        inputs.compose_yaml(over, Path("f"), "thing")


def test_read_text_messages_word_for_word(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (3 << 20))
    with pytest.raises(UsageError) as err:
        inputs.read_text(path, "build.toml", limit=2 << 20)
    assert str(err.value) == f"build.toml {path}: larger than 2 MiB; that is not a file of this kind"
    with pytest.raises(UsageError) as err:
        inputs.read_text(Path("/dev/null"), "build.toml")
    assert str(err.value) == "build.toml /dev/null: not a regular file"


def _merge_many(args):
    from acrtasks.util import metadata

    path, number = args
    for round_ in range(20):
        metadata.merge(Path(path), {f"component{number}-{round_}": {"build": {"status": "ok"}}})


def test_concurrent_metadata_writers_lose_nothing(tmp_path):
    """Ten processes merging into one metadata file at once, twenty times each: the lock keeps every entry."""
    import json
    import multiprocessing

    path = tmp_path / "meta.json"
    with multiprocessing.get_context("spawn").Pool(10) as pool:
        pool.map(_merge_many, [(str(path), n) for n in range(10)])
    assert len(json.loads(path.read_text())) == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"], "no temp or lock file left"



def test_a_metadata_file_holding_an_error_is_its_owners_only(tmp_path):
    """An error body echoing a credential was stored in the metadata file, 0644."""
    from acrtasks.util import metadata

    path = tmp_path / "meta.json"
    metadata.merge(path, {"backend": {"push": {"r": {"status": "pushed"}}}})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    metadata.merge(path, {"frontend": {"error": "denied: Basic *** is not allowed"}})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    metadata.merge(path, {"backend": {"build": {"status": "ok"}}})  # a later task keeps it private
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("chunk, expected", [
    ({"errorDetail": {"message": "denied \x1b[2K\rBasic dXNlcjpwYXNz"}}, "denied \\x1b[2K\\x0dBasic ***"),
    ({"error": "unauthorized: Bearer eyJhbGciOi.x.y"}, "unauthorized: Bearer ***"),
    ({"errorDetail": "not a mapping", "error": {"odd": 1}}, "{'odd': 1}"),
    ({"errorDetail": {}}, "push failed"),
])
def test_engine_stream_errors_are_printable_and_redacted(chunk, expected):
    from acrtasks.engine.client import stream_error

    assert stream_error(chunk, "push failed") == expected
