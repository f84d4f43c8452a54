"""Credentials go only to the scheme, host and port they belong to (issue 27's first part): a registry that
points uploads, blobs or the tag list's next page at another host gets nothing of ours sent there; a token that
would split a header, and an error that echoes the Authorization header, end in one line that shows neither."""

import base64
import json

import pytest
from harness import CredentialTrap, Registry, RegistryWriter, make_layer

USER, PASSWORD = "bob", "s3cret-Pa55"


@pytest.fixture
def upstream():
    registry = Registry().start()
    RegistryWriter(registry).image("library/app", "1", [make_layer(40_000, 1)])
    yield registry
    registry.remove()


@pytest.fixture
def trap(upstream):
    made = []

    def make(kind):
        server = CredentialTrap(upstream, kind).start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


def logged_in(tmp_path, *hosts):
    """A DOCKER_CONFIG holding Basic credentials for ``hosts``: what a hostile host must not get."""
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (tmp_path / "cfg").mkdir(exist_ok=True)
    (tmp_path / "cfg" / "config.json").write_text(json.dumps({"auths": {h: {"auth": auth} for h in hosts}}))
    return {"DOCKER_CONFIG": str(tmp_path / "cfg"), "ACRTASKS_RETRY_BACKOFF": "0"}


def assert_one_clean_error(result):
    assert result.returncode in (1, 2), result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output and PASSWORD not in output
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in output
    assert "\x1b" not in output and "\r" not in output.replace("\r\n", "\n")


def login_to(project, registry, tmp_path):
    """``inv login`` to ``registry`` with the password on stdin, into a DOCKER_CONFIG of the test's own."""
    project.write()
    return project.inv("login", "--registry", registry.host, "--username", USER, "--password-stdin",
                       input=f"{PASSWORD}\n", env={"DOCKER_CONFIG": str(tmp_path)})


def no_credentials_reached(elsewhere):
    assert elsewhere.seen == [] or all("Authorization" not in headers for _, _, headers in elsewhere.seen), \
        elsewhere.seen


def test_an_upload_location_on_another_host_gets_no_credentials(project, upstream, trap, tmp_path):
    target = trap("upload_elsewhere")
    project.write(f'[deps]\nimages = ["{upstream.host}/library/app:1"]\n')
    result = project.inv("push-deps", "--deps-namespace", f"{target.host}/mirror", env=logged_in(tmp_path, target.host))
    assert_one_clean_error(result)
    assert target.elsewhere.seen, "the trap was sprung: the upload went to the other host"
    no_credentials_reached(target.elsewhere)


def test_a_cdn_asking_for_its_own_token_gets_no_registry_credentials(project, registry, trap, tmp_path):
    source = trap("blob_cdn_401")
    project.write(f'[deps]\nimages = ["{source.host}/library/app:1"]\n')
    result = project.inv("push-deps", "--deps-namespace", f"{registry.host}/mirror",
                         env=logged_in(tmp_path, source.host))
    assert_one_clean_error(result)
    assert any(path.startswith("/cdn/") for _, path, _ in source.elsewhere.seen)
    assert not any(path.startswith("/token") for _, path, _ in source.elsewhere.seen), "its challenge was answered"
    no_credentials_reached(source.elsewhere)
    assert "asked for credentials; the registry's are not given to another host" in result.stdout + result.stderr


def test_a_tag_lists_next_page_on_another_host_is_not_followed(project, upstream, trap, tmp_path):
    registry = trap("tags_elsewhere")
    project.component("api", "FROM scratch\n")
    upstream_writer = RegistryWriter(upstream)
    upstream_writer.image("team/demo", "release-v0", [make_layer(1_000, 2)])  # a tag list to page through
    project.inv("--dry", "build", "--registry", f"{registry.host}/team", "--version", "v1",
                env=logged_in(tmp_path, registry.host))
    assert registry.elsewhere.seen == []  # never asked, with or without credentials


def test_a_token_holding_a_line_break_is_one_line_that_does_not_show_it(project, trap, tmp_path):
    result = login_to(project, trap("token_crlf"), tmp_path)
    assert_one_clean_error(result)
    assert "X-Injected" not in result.stdout + result.stderr
    assert "not a bearer token" in result.stderr


def test_an_error_echoing_the_authorization_header_is_shown_redacted(project, trap, tmp_path):
    result = login_to(project, trap("echo_auth"), tmp_path)
    assert_one_clean_error(result)
    assert "Authorization: Basic *** \\x1b[2K\\x0dall fine" in result.stderr  # escaped: it cannot erase the line


@pytest.mark.parametrize("kind, words", [
    ("upload_http", "to plain http:// (registry.corp.example); refusing to send anything in clear"),
    ("realm_http", "the token realm http://registry.corp.example is plain http; the credentials would travel in clear"),
])
def test_an_https_registry_cannot_send_us_to_plain_http(project, upstream, tmp_path, kind, words):
    """A registry behind a TLS-terminating proxy answers with http:// URLs on its own host: the password would
    travel in clear. Refused before anything is sent (the trap's HTTP_PROXY would record a request in clear)."""
    from harness import TunnelProxy, make_tls

    name = "registry.corp.example"
    tls = make_tls(tmp_path / "tls", names=(name,))
    target = CredentialTrap(upstream, kind, tls=tls, public=name).start()
    proxy = TunnelProxy(target).start()
    (tmp_path / "certs.d" / name).mkdir(parents=True)
    (tmp_path / "certs.d" / name / "ca.crt").write_bytes(tls["ca"].read_bytes())
    try:
        project.write(f'[deps]\nimages = ["{upstream.host}/library/app:1"]\n')
        env = {**logged_in(tmp_path, name), "HTTPS_PROXY": proxy.url, "HTTP_PROXY": f"http://{target.elsewhere.host}",
               "NO_PROXY": upstream.host.split(":")[0], "ACRTASKS_CERTS_D": str(tmp_path / "certs.d")}
        result = project.inv("push-deps", "--deps-namespace", f"{name}/mirror", env=env)
        assert_one_clean_error(result)
        assert words in result.stdout + result.stderr, result.stdout + result.stderr
        assert f"{name}:443" in proxy.hosts_seen  # it spoke TLS to the trap first
        assert target.elsewhere.seen == []  # and nothing in clear, credentials or not
    finally:
        proxy.stop()
        target.stop()
