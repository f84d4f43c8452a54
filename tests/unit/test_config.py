"""build.toml loading, validation and precedence."""

import textwrap

import pytest

from acrtasks.config import find_config, load_config, resolve
from acrtasks.errors import ConfigError, UsageError

BASE = """
[project]
name = "ai-infra-matrix"
image_prefix = "ai-infra-"

[registry]
url = "xxx.aliyuncs.com/ai-infra-matrix"

[build]
version = "v0.0.3.3"

[modes.prod]
build_args = { BUILD_ENV = "production", API_TOKEN = "t0ps3cret" }

[components.backend]
context = "backend"
build_args = { VERSION = "{version}", MODE = "{mode}" }
aliases = ["backend-init"]

[components.frontend]
context = "frontend"
build_args = { BUILD_ENV = "override", URL = "{env:ACR_TEST_URL}" }
"""


def write(tmp_path, text):
    path = tmp_path / "build.toml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def config(tmp_path):
    return load_config(write(tmp_path, BASE))


def test_defaults_filled_in(config):
    assert config.layout == "auto" and config.flat_hosts == (".aliyuncs.com",)
    assert config.parallel == 2 and config.mode == "prod" and config.tag_latest is False
    assert config.components["backend"].dockerfile == "Dockerfile"
    assert config.components["backend"].context == (config.root / "backend").resolve()
    assert config.deps_skip_existing is True


def test_image_prefix_defaults_to_project_name(tmp_path):
    config = load_config(write(tmp_path, '[project]\nname = "shop"\n'))
    assert config.image_prefix == "shop-"


@pytest.mark.parametrize("text, fragments", [
    ('[project]\nname = "x"\n[build]\nparalel = 2\n', ["build.toml:4", "build.paralel", "unknown key",
                                                      "allowed in [build]: version, mode, tag_latest, parallel"]),
    ('[project]\nname = "x"\n[build]\nparallel = "2"\n', ["build.toml:4", "build.parallel", "must be an integer"]),
    ('[project]\nname = "x"\n[build]\nparallel = true\n', ["build.parallel", "must be an integer"]),
    ('[project]\nname = "x"\n[build]\nparallel = 0\n', ["build.parallel", "at least 1"]),
    ('[project]\nname = "x"\n[build]\nmode = "staging"\n', ["build.mode", "unknown mode 'staging'", "dev, prod"]),
    ('[project]\nname = "x"\n[build]\nversion = "v1+x"\n', ["build.version", "'+'"]),
    ('[project]\nname = "x"\n[registry]\nlayout = "deep"\n', ["registry.layout", "auto, flat, nested"]),
    ('[project]\nname = "x"\n[registry]\nurl = "https://h.io/ns"\n', ["build.toml:4", "registry.url", "did you mean"]),
    ('[project]\nname = "x"\n[registry]\nflat_hosts = ".aliyuncs.com"\n', ["registry.flat_hosts", "list of strings"]),
    ('[project]\nname = "x"\n[components.api]\ncontext = "api"\ncontxt = "x"\n',
     ["build.toml:5", "components.api.contxt", "unknown key", "context, dockerfile"]),
    ('[project]\nname = "x"\n[components.api]\ndockerfile = "D"\n', ["components.api", "missing required key 'context'"]),
    ('[project]\nname = "x"\n[components.Api]\ncontext = "a"\n', ["components.Api", "component name 'Api'"]),
    ('[project]\nname = "x"\n[components.api]\ncontext = "a"\nbuild_args = { N = 1 }\n',
     ["components.api.build_args", "table of string values"]),
    ('[project]\nname = "x"\n[deps]\nimages = "redis"\n', ["deps.images", "list of strings"]),
    ('[project]\nname = "x"\n[extra]\na = 1\n', ["build.toml:3", "extra", "unknown table"]),
    ('[build]\nparallel = 1\n', ["project", "missing required key 'name'"]),
    ('[project\nname = "x"\n', ["not valid TOML", "line 1"]),
])
def test_validation_errors_are_one_line_with_key_and_line(tmp_path, text, fragments):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "build.toml") in message
    for fragment in fragments:
        assert fragment in message


def test_precedence_flag_over_env_over_file(config, monkeypatch):
    assert resolve(config).version == "v0.0.3.3"
    monkeypatch.setenv("ACRTASKS_VERSION", "v-env")
    monkeypatch.setenv("ACRTASKS_REGISTRY", "harbor.io/proj")
    monkeypatch.setenv("ACRTASKS_MODE", "dev")
    settings = resolve(config)
    assert (settings.version, settings.registry, settings.mode, settings.layout) == ("v-env", "harbor.io/proj",
                                                                                     "dev", "nested")
    settings = resolve(config, version="v-flag", registry="", mode="prod")
    assert (settings.version, settings.registry, settings.mode, settings.layout) == ("v-flag", "", "prod", "local")


def test_empty_environment_variable_counts_as_unset(config, monkeypatch):
    monkeypatch.setenv("ACRTASKS_VERSION", "")
    assert resolve(config).version == "v0.0.3.3"


@pytest.mark.parametrize("flags, fragment", [
    ({"mode": "qa"}, "mode 'qa' (from flag) is unknown; known: dev, prod"),
    ({"layout": "deep"}, "layout (from flag): 'deep' is not one of auto, flat, nested"),
    ({"parallel": "two"}, "parallel (from flag) must be a whole number of at least 1, got 'two'"),
    ({"parallel": "0"}, "at least 1"),
    ({"version": "v1+b"}, "version (from flag) 'v1+b'"),
    ({"registry": "HTTPS://x.io"}, "registry 'HTTPS://x.io' is invalid"),
])
def test_bad_overrides(config, flags, fragment):
    with pytest.raises(UsageError) as err:
        resolve(config, **flags)
    assert fragment in str(err.value)


def test_env_override_named_in_error(config, monkeypatch):
    monkeypatch.setenv("ACRTASKS_MODE", "qa")
    with pytest.raises(UsageError, match=r"from \$ACRTASKS_MODE"):
        resolve(config)


def test_build_args_mode_then_component_with_placeholders(config, monkeypatch):
    monkeypatch.setenv("ACR_TEST_URL", "http://api")
    settings = resolve(config)
    assert settings.build_args(config.components["backend"]) == {
        "BUILD_ENV": "production", "API_TOKEN": "t0ps3cret", "VERSION": "v0.0.3.3", "MODE": "prod"}
    assert settings.build_args(config.components["frontend"])["BUILD_ENV"] == "override"
    assert settings.build_args(config.components["frontend"])["URL"] == "http://api"


def test_missing_env_placeholder(config, monkeypatch):
    monkeypatch.delenv("ACR_TEST_URL", raising=False)
    with pytest.raises(UsageError, match=r"uses \{env:ACR_TEST_URL\} but \$ACR_TEST_URL is not set"):
        resolve(config).build_args(config.components["frontend"])


def test_unknown_component(config):
    with pytest.raises(UsageError, match="unknown component 'db'; known: backend, frontend"):
        resolve(config).components(["db"])


def test_components_by_comma_list_and_repeated_flag(config):
    """build.sh's `--service a,b`: `--component frontend,backend` and repeated flags alike, in the order given."""
    settings = resolve(config)
    assert [c.name for c in settings.components(["frontend,backend"])] == ["frontend", "backend"]
    assert [c.name for c in settings.components(["frontend", " backend ,frontend"])] == ["frontend", "backend"]
    with pytest.raises(UsageError, match="unknown component 'db'"):
        settings.components(["backend,db"])
    with pytest.raises(UsageError, match="names no component"):
        settings.components([","])


def test_find_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no build.toml in"):
        find_config(None)
    write(tmp_path, BASE)
    assert find_config(None) == tmp_path / "build.toml"
    monkeypatch.setenv("ACRTASKS_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="ACRTASKS_CONFIG"):
        find_config(str(tmp_path))


def test_version_from_git_never_reuses_a_release_tag(tmp_path):
    import subprocess

    from acrtasks.util.gitinfo import derive_version

    version, warning = derive_version(tmp_path)
    assert version == "dev-unknown" and "not in a git checkout" in warning
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]

    def commit():
        subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "x"], check=True)
        return subprocess.run(git + ["rev-parse", "--short=7", "HEAD"], capture_output=True, text=True).stdout.strip()

    subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
    sha = commit()
    assert derive_version(tmp_path) == (f"dev-{sha}", None)
    subprocess.run(git + ["tag", "v0.9.0"], check=True)
    assert derive_version(tmp_path) == ("v0.9.0", None)  # exactly on the tag
    commit()
    commit()
    sha = commit()
    assert derive_version(tmp_path) == (f"v0.9.0-3-g{sha}", None)  # after the tag: describe form
    subprocess.run(git + ["checkout", "-q", "-b", "v1.2.x"], check=True)
    assert derive_version(tmp_path)[0] == f"v0.9.0-3-g{sha}"  # a v* branch name is no release
    (tmp_path / "tracked").write_text("a")
    subprocess.run(git + ["add", "tracked"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "t"], check=True)
    subprocess.run(git + ["tag", "v1.0.0"], check=True)
    (tmp_path / "tracked").write_text("b")
    assert derive_version(tmp_path) == ("v1.0.0-dirty", None)  # a dirty tree is never the release


@pytest.mark.parametrize("setting, flag, host, drops, form", [
    ("auto", None, "registry.cn-hangzhou.aliyuncs.com", "artifacts", "index"),  # ACR refuses OCI artifacts only
    ("auto", None, "harbor.example.com", "", ""),
    ("auto", None, "", "", ""),  # local tags only
    ("keep", None, "registry.cn-hangzhou.aliyuncs.com", "", "index"),
    ("drop", None, "harbor.example.com", "all", ""),
    ("keep", "drop", "harbor.example.com", "all", ""),  # the flag wins
    ("drop", "auto", "harbor.example.com", "", ""),
])
def test_attestations_are_kept_on_acr_in_the_form_it_stores_unless_told(tmp_path, setting, flag, host, drops, form):
    from acrtasks.config import attestation_form, drops_attestations, load_config

    (tmp_path / "build.toml").write_text(f'[project]\nname = "p"\n[registry]\nattestations = "{setting}"\n')
    config = load_config(tmp_path / "build.toml")
    assert drops_attestations(config, host, flag) == drops
    assert attestation_form(config, host) == form


@pytest.mark.parametrize("written, read", [('"min"', "min"), ('"max"', "max"), ("false", "false"), ("true", "min"),
                                           ('""', "")])
def test_provenance_is_min_max_or_false(tmp_path, written, read):
    from acrtasks.config import load_config

    (tmp_path / "build.toml").write_text(f'[project]\nname = "p"\n[build]\nprovenance = {written}\n')
    assert load_config(tmp_path / "build.toml").provenance == read


def test_a_bad_provenance_is_refused_naming_its_line(tmp_path):
    from acrtasks.config import load_config
    from acrtasks.errors import ConfigError

    (tmp_path / "build.toml").write_text('[project]\nname = "p"\n[build]\nprovenance = "full"\n')
    with pytest.raises(ConfigError, match=r"build.toml:4: build.provenance: 'full' is not one of min, max, false"):
        load_config(tmp_path / "build.toml")


def test_an_unknown_attestations_setting_is_refused(tmp_path):
    from acrtasks.config import load_config
    from acrtasks.errors import ConfigError

    (tmp_path / "build.toml").write_text('[project]\nname = "p"\n[registry]\nattestations = "some"\n')
    with pytest.raises(ConfigError, match="registry.attestations"):
        load_config(tmp_path / "build.toml")


def _mode_project(tmp_path, extra=""):
    (tmp_path / "build.toml").write_text(textwrap.dedent("""
        [project]
        name = "shop"
        [modes.prod]
        build_args = {BUILD_ENV = "production", API = "{env:REACT_APP_API_URL:-/api}"}
        [components.web]
        context = "."
        build_args = {TITLE = "{env:TITLE-untitled}", DEBUG = "{env:DEBUG_MODE}"}
        [components.nginx]
        context = "."
        [components.nginx.modes.prod]
        build_args = {BUILD_ENV = "nginx-prod", DEBUG_MODE = "{env:DEBUG_MODE}"}
    """) + extra)
    return load_config(tmp_path / "build.toml")


def test_a_mode_reads_env_then_env_mode_beside_build_toml_the_environment_winning(tmp_path, monkeypatch):
    """build.sh's `prod`: .env, then .env.prod, into what {env:NAME} reads; the process environment first."""
    for name in ("REACT_APP_API_URL", "TITLE", "DEBUG_MODE"):
        monkeypatch.delenv(name, raising=False)
    config = _mode_project(tmp_path)
    (tmp_path / ".env").write_text("DEBUG_MODE=true\nTITLE=\n")
    (tmp_path / ".env.prod").write_text("DEBUG_MODE=false  # prod\n")
    (tmp_path / ".env.dev").write_text("DEBUG_MODE=dev-only\n")
    settings = resolve(config, mode="prod")
    web = settings.build_args_from(config.components["web"])
    assert web == {"BUILD_ENV": ("production", "[modes.prod]"),
                   "API": ("/api", "[modes.prod]"),  # unset: the default
                   "TITLE": ("", "[components.web]; $TITLE from .env"),  # set though empty: `-` keeps it
                   "DEBUG": ("false", "[components.web]; $DEBUG_MODE from .env.prod")}  # the later file wins
    nginx = settings.build_args(config.components["nginx"])
    assert nginx == {"BUILD_ENV": "nginx-prod", "API": "/api", "DEBUG_MODE": "false"}  # the component's mode wins
    monkeypatch.setenv("DEBUG_MODE", "from-shell")
    monkeypatch.setenv("REACT_APP_API_URL", "")
    fresh = resolve(config, mode="prod").build_args_from(config.components["web"])
    assert fresh["DEBUG"] == ("from-shell", "[components.web]; $DEBUG_MODE from the environment")
    assert fresh["API"] == ("/api", "[modes.prod]")  # `:-`: empty counts as unset
    assert resolve(config, mode="dev").build_args(config.components["web"])["DEBUG"] == "from-shell"


def test_env_files_are_a_mode_setting_and_a_missing_named_one_is_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("DEBUG_MODE", raising=False)
    config = _mode_project(tmp_path, '\n[modes.staging]\nenv_files = ["deploy/staging.env"]\n')
    (tmp_path / ".env").write_text("DEBUG_MODE=true\n")
    with pytest.raises(ConfigError, match=r"modes.staging.env_files: .*deploy/staging.env does not exist"):
        resolve(config, mode="staging").build_args(config.components["web"])
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "staging.env").write_text("DEBUG_MODE=${UPSTREAM:-staged}\n")
    args = resolve(config, mode="staging").build_args_from(config.components["web"])
    assert args["DEBUG"] == ("staged", "[components.web]; $DEBUG_MODE from deploy/staging.env")  # not .env's
    (tmp_path / "deploy" / "staging.env").write_text("DEBUG_MODE='unterminated\n")
    with pytest.raises(ConfigError, match="staging.env"):
        resolve(config, mode="staging").build_args(config.components["web"])


def test_a_component_mode_table_names_a_known_mode(tmp_path):
    with pytest.raises(ConfigError, match=r"components.nginx.modes.qa: unknown mode 'qa'; known: dev, prod"):
        _mode_project(tmp_path, '\n[components.nginx.modes.qa]\nbuild_args = {X = "1"}\n')
    with pytest.raises(ConfigError, match=r"components.nginx.modes.prod.args: unknown key"):
        _mode_project(tmp_path, '')  # fine
        (tmp_path / "build.toml").write_text((tmp_path / "build.toml").read_text().replace(
            "[components.nginx.modes.prod]\nbuild_args", "[components.nginx.modes.prod]\nargs"))
        load_config(tmp_path / "build.toml")
