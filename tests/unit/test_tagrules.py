"""Tag rules against node-semver's own test tables (test/fixtures/range-include.js and range-exclude.js, the
cases without prereleases, build metadata or options: a Docker tag's ``-suffix`` is a variant, not a
prerelease), then the choice among real-looking tag lists."""

import pytest

from acrtasks.errors import UsageError
from acrtasks.tagrules import TagRule, _range, split_rule, tag_version

NPM_INCLUDE = [
    ("1.0.0 - 2.0.0", "1.2.3"), ("1.0.0", "1.0.0"), (">=*", "0.2.4"), ("", "1.0.0"), ("*", "1.2.3"),
    (">=1.0.0", "1.0.0"), (">=1.0.0", "1.0.1"), (">=1.0.0", "1.1.0"), (">1.0.0", "1.0.1"), (">1.0.0", "1.1.0"),
    ("<=2.0.0", "2.0.0"), ("<=2.0.0", "1.9999.9999"), ("<=2.0.0", "0.2.9"), ("<2.0.0", "1.9999.9999"),
    ("<2.0.0", "0.2.9"), (">= 1.0.0", "1.0.0"), (">=  1.0.0", "1.0.1"), (">=   1.0.0", "1.1.0"), ("> 1.0.0", "1.0.1"),
    (">  1.0.0", "1.1.0"), ("<=   2.0.0", "2.0.0"), ("<= 2.0.0", "1.9999.9999"), ("<=  2.0.0", "0.2.9"),
    ("<    2.0.0", "1.9999.9999"), ("<\t2.0.0", "0.2.9"), (">=0.1.97", "0.1.97"), ("0.1.20 || 1.2.4", "1.2.4"),
    (">=0.2.3 || <0.0.1", "0.0.0"), (">=0.2.3 || <0.0.1", "0.2.3"), (">=0.2.3 || <0.0.1", "0.2.4"),
    ("||", "1.3.4"), ("2.x.x", "2.1.3"), ("1.2.x", "1.2.3"), ("1.2.x || 2.x", "2.1.3"), ("1.2.x || 2.x", "1.2.3"),
    ("x", "1.2.3"), ("2.*.*", "2.1.3"), ("1.2.*", "1.2.3"), ("1.2.* || 2.*", "2.1.3"), ("1.2.* || 2.*", "1.2.3"),
    ("2", "2.1.2"), ("2.3", "2.3.1"), ("~0.0.1", "0.0.1"), ("~0.0.1", "0.0.2"), ("~x", "0.0.9"), ("~2", "2.0.9"),
    ("~2.4", "2.4.0"), ("~2.4", "2.4.5"), ("~>3.2.1", "3.2.2"), ("~1", "1.2.3"), ("~>1", "1.2.3"), ("~> 1", "1.2.3"),
    ("~1.0", "1.0.2"), ("~ 1.0", "1.0.2"), ("~ 1.0.3", "1.0.12"), (">=1", "1.0.0"), (">= 1", "1.0.0"),
    ("<1.2", "1.1.1"), ("< 1.2", "1.1.1"), ("=0.7.x", "0.7.2"), ("<=0.7.x", "0.7.2"), (">=0.7.x", "0.7.2"),
    ("<=0.7.x", "0.6.2"), ("~1.2.1 >=1.2.3", "1.2.3"), ("~1.2.1 =1.2.3", "1.2.3"), ("~1.2.1 1.2.3", "1.2.3"),
    ("~1.2.1 >=1.2.3 1.2.3", "1.2.3"), ("~1.2.1 1.2.3 >=1.2.3", "1.2.3"), (">=1.2.1 1.2.3", "1.2.3"),
    ("1.2.3 >=1.2.1", "1.2.3"), (">=1.2.3 >=1.2.1", "1.2.3"), (">=1.2.1 >=1.2.3", "1.2.3"), (">=1.2", "1.2.8"),
    ("^1.2.3", "1.8.1"), ("^0.1.2", "0.1.2"), ("^0.1", "0.1.2"), ("^0.0.1", "0.0.1"), ("^1.2", "1.4.2"),
    ("^1.2 ^1", "1.4.2"), ("^x", "1.2.3"), ("x - 1.0.0", "0.9.7"), ("x - 1.x", "0.9.7"), ("1.0.0 - x", "1.9.7"),
    ("1.x - x", "1.9.7"), ("<=7.x", "7.9.9"),
]
NPM_EXCLUDE = [
    ("1.0.0 - 2.0.0", "2.2.3"), ("1.0.0", "1.0.1"), (">=1.0.0", "0.0.0"), (">=1.0.0", "0.0.1"),
    (">=1.0.0", "0.1.0"), (">1.0.0", "0.0.1"), (">1.0.0", "0.1.0"), ("<=2.0.0", "3.0.0"), ("<=2.0.0", "2.9999.9999"),
    ("<=2.0.0", "2.2.9"), ("<2.0.0", "2.9999.9999"), ("<2.0.0", "2.2.9"), (">=0.1.97", "0.1.93"),
    ("0.1.20 || 1.2.4", "1.2.3"), (">=0.2.3 || <0.0.1", "0.0.3"), (">=0.2.3 || <0.0.1", "0.2.2"), ("2.x.x", "3.1.3"),
    ("1.2.x", "1.3.3"), ("1.2.x || 2.x", "3.1.3"), ("1.2.x || 2.x", "1.1.3"), ("2.*.*", "1.1.3"), ("2.*.*", "3.1.3"),
    ("1.2.*", "1.3.3"), ("1.2.* || 2.*", "3.1.3"), ("1.2.* || 2.*", "1.1.3"), ("2", "1.1.2"), ("2.3", "2.4.1"),
    ("~0.0.1", "0.1.0"), ("~2.4", "2.5.0"), ("~2.4", "2.3.9"), ("~>3.2.1", "3.3.2"), ("~>3.2.1", "3.2.0"),
    ("~1", "0.2.3"), ("~>1", "2.2.3"), ("~1.0", "1.1.0"), ("<1", "1.0.0"), (">=1.2", "1.1.1"), ("=0.7.x", "0.8.2"),
    (">=0.7.x", "0.6.2"), ("<0.7.x", "0.7.2"), (">1.2", "1.2.8"), ("^0.0.1", "0.0.2"), ("^1.2.3", "1.2.2"),
    ("^1.2", "1.1.9"), ("*", "not a version"), (">=2", "glorp"),
    # npm excludes prereleases from a plain range; a tag's variant is likewise left out of a plain rule
    ("^1.2.3", "1.2.3-pre"), (">1.2", "1.3.0-beta"), ("<=1.2.3", "1.2.3-beta"), ("^1.0.0", "2.0.0-rc1"),
]


def rule(spec):
    return TagRule(spec, _range(spec, spec))


@pytest.mark.parametrize("spec, version", NPM_INCLUDE)
def test_npm_range_includes(spec, version):
    assert rule(spec).matches(version)


@pytest.mark.parametrize("spec, version", NPM_EXCLUDE)
def test_npm_range_excludes(spec, version):
    assert not rule(spec).matches(version)


POSTGRES = ["15", "15-alpine", "15.9", "15.10", "15.10-alpine", "15.10-bookworm", "16.4", "16.4-alpine", "latest",
            "alpine", "14.13", "15.2"]


@pytest.mark.parametrize("text, expected", [
    ("postgres:~15", ["15.10"]),
    ("postgres:~15-alpine", ["15.10-alpine"]),
    ("postgres:^15 newest 3", ["15.10", "15.9", "15.2"]),
    ("postgres:>=15.2 <16", ["15.10"]),
    ("postgres:>=14 <17 newest 2", ["16.4", "15.10"]),
    ("postgres:/^1[45]\\.\\d+$/", ["15.10"]),
    ("postgres:/.*-alpine/ newest 2", ["16.4-alpine", "15.10-alpine"]),
    ("postgres:newest 1", ["16.4"]),
    ("127.0.0.1:5000/library/postgres:~16-alpine", ["16.4-alpine"]),
])
def test_a_rule_picks_the_newest_matching_tags(text, expected):
    name, found = split_rule(text)
    assert found.pick(POSTGRES) == expected


@pytest.mark.parametrize("text, words", [
    ("postgres:~17", "matches none of the 12 tag(s) (newest: 16.4-alpine, 16.4, 15.10-bookworm"),
    ("postgres:/.*alp.*/", "not all versions"),
])
def test_an_empty_or_ambiguous_match_names_what_was_found(text, words):
    _, found = split_rule(text)
    with pytest.raises(UsageError) as caught:
        found.pick(POSTGRES)
    assert words in str(caught.value)


def test_the_same_version_written_twice_is_ambiguous():
    _, found = split_rule("redis:~7")
    with pytest.raises(UsageError, match="7.2, v7.2 are the same version"):
        found.pick(["7.2", "v7.2", "7.0"])


@pytest.mark.parametrize("text", ["postgres:15", "postgres:15.x", "postgres", "r.io:5000/a/b:1.2", "r.io:5000/a/b",
                                  "a/b@sha256:" + "0" * 64, "postgres:latest"])
def test_a_plain_reference_is_not_a_rule(text):
    assert split_rule(text) is None


@pytest.mark.parametrize("text, words", [
    ("postgres:~15 newest 0", "newest N"), ("postgres:~15 newest x", "cannot read"),
    ("postgres:/[/", "does not compile"), ("postgres:~a.b", "cannot read"),
    ("postgres:~15-alpine <16-bookworm", "one variant per range"),
])
def test_a_malformed_rule_is_one_usage_error(text, words):
    with pytest.raises(UsageError, match=words):
        split_rule(text)


def test_a_tag_version_reads_docker_tags():
    assert tag_version("15.10-alpine3.20") == ((15, 10, 0), 2, "alpine3.20")
    assert tag_version("v7") == ((7, 0, 0), 1, "")
    assert tag_version("latest") is None and tag_version("1.2.3.4") is None
