"""The default version from git, by each rule of [build] version_from, on real git repositories."""

import pytest
from harness import git

from acrtasks.util import gitinfo


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a").write_text("1\n")
    git(tmp_path, "add", "a")
    git(tmp_path, "commit", "-q", "-m", "one")
    return tmp_path


def commit(root, text):
    (root / "a").write_text(text)
    git(root, "commit", "-q", "-am", text)


def test_branch_or_tag_is_build_shs_rule(repo):
    sha = git(repo, "rev-parse", "--short", "HEAD")
    assert gitinfo.branch_or_tag_version(repo) == (f"dev-{sha.strip()}", None)  # no tag, no v* branch
    git(repo, "tag", "v0.0.3.3")
    commit(repo, "2")
    assert gitinfo.branch_or_tag_version(repo) == ("v0.0.3.3", None)  # the newest tag reachable, not v0.0.3.3-1-g..
    assert gitinfo.derive_version(repo)[0].startswith("v0.0.3.3-1-g")  # describe names the commit apart
    git(repo, "checkout", "-q", "-b", "v0.0.3.4")
    assert gitinfo.branch_or_tag_version(repo) == ("v0.0.3.4", None)  # a v* branch wins
    git(repo, "checkout", "-q", "-b", "v1/hotfix")  # a v* branch that is no valid tag: the tag again
    assert gitinfo.branch_or_tag_version(repo) == ("v0.0.3.3", None)


def test_branch_or_tag_outside_git_warns(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    version, warning = gitinfo.branch_or_tag_version(tmp_path)
    assert version == gitinfo.UNKNOWN and "not in a git checkout" in warning


def test_the_rule_is_a_build_toml_key(repo):
    from acrtasks.config import load_config, resolve
    from acrtasks.errors import ConfigError

    git(repo, "tag", "v2")
    commit(repo, "2")
    (repo / "build.toml").write_text('[project]\nname = "shop"\n[build]\nversion_from = "branch-or-tag"\n')
    settings = resolve(load_config(repo / "build.toml"))
    assert (settings.version, settings.shared_version) == ("v2", True)
    assert resolve(load_config(repo / "build.toml"), version="v3").shared_version is False  # given: the user's
    (repo / "build.toml").write_text('[project]\nname = "shop"\n[build]\nversion_from = "branch"\n')
    with pytest.raises(ConfigError, match="build.version_from: 'branch' is not one of describe, branch-or-tag"):
        load_config(repo / "build.toml")
