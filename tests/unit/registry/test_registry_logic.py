"""Pure pieces of registry access: challenges, platforms, manifests, docker config, push error kinds."""

import json
import stat

import pytest

from acrtasks.engine.client import PushFailed, PushProgress, classify_push_error
from acrtasks.copy.manifests import Manifest, platform_matches, platform_of
from acrtasks.errors import CredentialError, UsageError
from acrtasks.naming import ImageRef, is_loopback_host
from acrtasks.registry.client import parse_challenge
from acrtasks.registry.credentials import Credentials, DockerConfig, auth_key
from acrtasks.util.retry import with_retries


def test_parse_bearer_and_basic_challenges():
    bearer = parse_challenge('Bearer realm="https://auth.example.com/token",service="registry",'
                             'scope="repository:a/b:pull,push"')
    assert bearer.scheme == "bearer"
    assert bearer.params == {"realm": "https://auth.example.com/token", "service": "registry",
                             "scope": "repository:a/b:pull,push"}
    assert parse_challenge('Basic realm="Registry Realm"').scheme == "basic"
    assert parse_challenge("") is None


@pytest.mark.parametrize("host, loopback", [("127.0.0.1:5000", True), ("localhost", True), ("[::1]:5000", True),
                                            ("127.1.2.3", True), ("registry.example.com", False),
                                            ("128.0.0.1", False)])
def test_loopback(host, loopback):
    assert is_loopback_host(host) is loopback


ENTRY = {"digest": "sha256:x", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}


@pytest.mark.parametrize("wanted, matches", [("linux/arm64", True), ("linux/arm64/v8", True),
                                             ("linux/arm64/v7", False), ("linux/amd64", False),
                                             ("LINUX/ARM64", True)])
def test_platform_matching(wanted, matches):
    assert platform_of(ENTRY) == "linux/arm64/v8"
    assert platform_matches(ENTRY, wanted) is matches


C, L1, WIN = ("sha256:" + ch * 64 for ch in "c1f")


def test_manifest_blobs_skip_foreign_layers():
    body = {"schemaVersion": 2, "mediaType": "m", "config": {"digest": C, "size": 2},
            "layers": [{"digest": L1, "size": 10},
                       {"digest": WIN, "size": 99, "urls": ["https://mcr.example/x"]}]}
    manifest = Manifest("m", json.dumps(body).encode(), "sha256:m")
    assert manifest.blobs() == [(C, 2), (L1, 10)]
    assert not manifest.is_index


@pytest.mark.parametrize("digest", ["sha256:../../v2/other/blobs", "sha256:ABC", 5, None, "md5:" + "a" * 32])
def test_manifest_digests_must_be_sha256_hex(digest):
    """A descriptor's digest goes into a URL path: anything but sha256:<64 hex> is refused."""
    body = {"config": {"digest": C, "size": 2}, "layers": [{"digest": digest, "size": 1}]}
    with pytest.raises(TypeError):
        Manifest("m", json.dumps(body).encode(), "sha256:m").blobs()


def test_docker_config_store_get_erase(tmp_path):
    config = DockerConfig(tmp_path / "cfg")
    assert config.get("r.example.com") is None
    where = config.store("r.example.com", Credentials("u", "p:w"))
    assert where == str(tmp_path / "cfg" / "config.json")
    assert stat.S_IMODE(config.path.stat().st_mode) == 0o600
    assert config.get("r.example.com") == Credentials("u", "p:w")
    assert "p:w" not in repr(config.get("r.example.com"))
    config.store("docker.io", Credentials("hub", "x"))
    assert "https://index.docker.io/v1/" in json.loads(config.path.read_text())["auths"]
    assert config.get("docker.io") == Credentials("hub", "x")
    assert config.erase("r.example.com") == str(config.path)
    assert config.erase("r.example.com") is None
    assert config.get("docker.io") == Credentials("hub", "x")


def test_docker_config_reads_url_keys_and_helpers(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "auths": {"https://legacy.example.com/v1/": {"auth": "dTpw"}},
        "credHelpers": {"ecr.example.com": "ecr-login"},
        "credsStore": "desktop",
    }))
    config = DockerConfig(tmp_path)
    assert config.helper_for("ecr.example.com") == "ecr-login"
    assert config.helper_for("other.example.com") == "desktop"
    with pytest.raises(CredentialError, match="docker-credential-desktop .* is not on PATH"):
        config.get("other.example.com")


def test_docker_config_invalid_json(tmp_path):
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(UsageError, match="not valid JSON"):
        DockerConfig(tmp_path).get("x.io")


def test_auth_key():
    assert auth_key("docker.io") == "https://index.docker.io/v1/"
    assert auth_key("127.0.0.1:5000") == "127.0.0.1:5000"


@pytest.mark.parametrize("message, kind", [
    ("unauthorized: authentication required", "auth"),
    ("denied: requested access to the resource is denied", "auth"),
    ("tag already exists and cannot be overwritten because the repository is immutable", "immutable"),
    ('Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', "transient"),
    ("received unexpected HTTP status: 503 Service Unavailable", "transient"),
    ("toomanyrequests: rate limit", "transient"),
    ("errors:\ndigest invalid\nmanifest blob unknown: blob unknown to registry", "transient"),  # moby#9132
    ("manifest invalid", "other"),
    # a port that contains a status code is no status code (seen in CI: port 40365 read as a 403)
    ('Get "http://127.0.0.1:40365/v2/": dial tcp 127.0.0.1:40365: connect: connection refused', "transient"),
    ('Get "http://127.0.0.1:45013/v2/": EOF', "transient"),
    ("received unexpected HTTP status: 403 Forbidden", "auth"),
])
def test_push_error_kinds(message, kind):
    assert classify_push_error(message) == kind


def test_with_retries_retries_only_transient():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise PushFailed("connection reset", "transient")
        return "sha256:ok"

    assert with_retries(flaky, tries=3, backoff=0) == "sha256:ok" and len(calls) == 3
    calls.clear()

    def denied():
        calls.append(1)
        raise PushFailed("denied", "auth")

    with pytest.raises(PushFailed):
        with_retries(denied, tries=3, backoff=0)
    assert len(calls) == 1


def test_push_progress_sums_layers():
    progress = PushProgress()
    progress.update({"id": "aaaaaaaaaaaa", "status": "Pushing", "progressDetail": {"current": 5, "total": 10}})
    progress.update({"id": "bbbbbbbbbbbb", "status": "Pushing", "progressDetail": {"current": 1, "total": 4}})
    progress.update({"id": "bbbbbbbbbbbb", "status": "Pushed"})
    assert (progress.current, progress.total, progress.done_layers) == (9, 14, 1)


def test_push_progress_knows_when_the_registry_took_something():
    progress = PushProgress()
    progress.update({"status": "Preparing", "id": "aaaaaaaaaaaa"})
    progress.update({"status": "Layer already exists", "id": "aaaaaaaaaaaa"})
    assert (progress.accepted, progress.done_layers) == (False, 1)  # a HEAD proves no right to push
    progress.update({"status": "Mounted from ns/base", "id": "bbbbbbbbbbbb"})
    assert (progress.accepted, progress.done_layers) == (True, 2)
    pushing = PushProgress()
    pushing.update({"status": "Pushing", "id": "cccccccccccc", "progressDetail": {"current": 5, "total": 10}})
    assert (pushing.accepted, pushing.current, pushing.total) == (True, 5, 10)
    refused = PushProgress()
    refused.update({"status": "Pushing"})  # no layer id: not a layer's line
    assert not refused.accepted


def test_image_ref_keeps_ports_with_the_host():
    ref = ImageRef.parse("localhost:5000/a/b:v1")
    assert (ref.host, ref.locator, ref.tag) == ("localhost:5000", "localhost:5000/a/b", "v1")


@pytest.mark.parametrize("host, insecure, plain", [
    ("127.0.0.1:5000", (), True), ("localhost:5000", (), True), ("[::1]:5000", (), True),
    ("registry.example.com:5000", (), False), ("xxx.aliyuncs.com", (), False),
    ("registry.example.com:5000", ("registry.example.com:5000",), True),
    ("registry.example.com", ("registry.example.com:5000",), False),
])
def test_plain_http_only_for_loopback_and_insecure_hosts(host, insecure, plain):
    from acrtasks.registry.client import RegistryClient

    client = RegistryClient(host, insecure_hosts=insecure, timeout=0.2)
    assert client.plain_http_allowed is plain
    if not plain:
        assert client._probe_scheme() == "https"  # decided without a connection: never plain HTTP


@pytest.mark.parametrize("url, env, proxied", [
    ("https://xxx.aliyuncs.com/v2/", {"HTTPS_PROXY": "http://proxy.corp:3128"}, True),
    ("https://xxx.aliyuncs.com/v2/", {"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": ".aliyuncs.com"}, False),
    ("http://127.0.0.1:5000/v2/", {"HTTP_PROXY": "http://proxy.corp:3128"}, False),
    ("http://localhost:5000/v2/", {"HTTP_PROXY": "http://proxy.corp:3128"}, False),
    ("https://harbor.corp/v2/", {}, False),
])
def test_proxies_follow_the_environment_like_docker(monkeypatch, url, env, proxied):
    from acrtasks.registry.client import proxies_for

    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert bool(proxies_for(url)) is proxied


def test_identity_tokens_are_read_from_config_and_helpers(tmp_path):
    from acrtasks.registry.credentials import _helper_reply

    (tmp_path / "config.json").write_text(json.dumps({"auths": {"r.example.com": {"identitytoken": "refresh-1"}}}))
    found = DockerConfig(tmp_path).get("r.example.com")
    assert found.identity_token == "refresh-1" and found.password == ""
    via_helper = _helper_reply(json.dumps({"Username": "<token>", "Secret": "refresh-2"}), "x")
    assert via_helper.identity_token == "refresh-2"
    assert "refresh" not in repr(found) + repr(via_helper), "secrets stay out of reprs (and so of logs)"


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("chunk, digest", [
    ({"aux": {"Tag": "v1", "Digest": DIGEST, "Size": 528}}, DIGEST),  # the classic store's record
    ({"status": f"v1: digest: {DIGEST} size: 528"}, DIGEST),  # the containerd store's only word (Docker 26)
    ({"status": f"backend-v1: digest: {DIGEST} size: 1234"}, DIGEST),
    ({"status": "The push refers to repository [127.0.0.1:5000/team/x]"}, None),
    ({"status": "Pushed", "id": "aaaaaaaaaaaa"}, None),
    ({"status": f"v1: digest: {DIGEST}"}, None),  # no size: not the line
    ({"status": f"v1: digest: {DIGEST} size: 528 and more"}, None),
    ({"aux": {"Digest": ""}, "status": f"v1: digest: {DIGEST} size: 1"}, DIGEST),
    ({"aux": "Digest", "status": None}, None),
    ({"status": "x" * 5000 + f" digest: {DIGEST} size: 1"}, None),  # bounded: a huge line is not searched
])
def test_push_digest_from_aux_else_the_status_line(chunk, digest):
    from acrtasks.engine.client import pushed_digest

    assert pushed_digest(chunk) == digest


def test_a_push_is_checked_against_what_the_registry_holds():
    from acrtasks.components.pusher import check_held
    from acrtasks.errors import RegistryError

    ref = ImageRef.parse("127.0.0.1:5000/team/x:v1")
    check_held(lambda r: DIGEST if r == ref else None, ref, DIGEST)
    other = "sha256:" + "cd" * 32
    with pytest.raises(PushFailed, match=f"the engine reported {other} but the registry holds {DIGEST}") as caught:
        check_held(lambda r: DIGEST, ref, other)
    assert caught.value.kind == "integrity"
    with pytest.raises(PushFailed, match="registry holds no such tag"):
        check_held(lambda r: None, ref, DIGEST)

    def refused(r):
        raise RegistryError("127.0.0.1:5000: denied", "auth")

    with pytest.raises(PushFailed, match="reading 127.0.0.1:5000/team/x:v1 back from the registry failed"):
        check_held(refused, ref, DIGEST)


@pytest.mark.parametrize("url, base, same", [
    ("https://r.io/v2/x", "https://r.io", True),
    ("https://r.io:443/v2/x", "https://r.io", True),  # the default port, written or not
    ("http://r.io/v2/x", "https://r.io", False),  # a downgrade is another origin
    ("https://r.io:5000/v2/x", "https://r.io", False),
    ("https://cdn.r.io/blob", "https://r.io", False),
    ("https://r.io.evil.com/v2/", "https://r.io", False),
    ("https://r.io:bad/v2/", "https://r.io", False),
    ("http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000", True),
])
def test_credentials_belong_to_one_scheme_host_and_port(url, base, same):
    from acrtasks.registry.client import same_origin

    assert same_origin(url, base) is same


def test_text_from_a_registry_is_shown_redacted_and_escaped():
    from acrtasks.util.text import printable

    shown = printable("denied: Authorization: Basic Ym9iOnMzY3JldA== and bearer eyJhbGciOi.x-y_z \x1b[2K\rok\x07")
    assert shown == "denied: Authorization: Basic *** and bearer *** \\x1b[2K\\x0dok\\x07"


def test_a_plain_http_realm_is_refused_unless_docker_would_allow_plain_http(monkeypatch):
    from acrtasks.errors import RegistryError
    from acrtasks.registry.client import Challenge, RegistryClient

    client = RegistryClient("r.example.com", insecure_hosts=["insecure.example.com:5000"])
    for realm in ("http://auth.example.com/token", "ftp://auth.example.com/token", "https:///token"):
        with pytest.raises(RegistryError) as raised:
            client._fetch_token(Challenge("bearer", {"realm": realm, "service": "r"}), "repository:a:pull")
        assert "plain http" in str(raised.value) or "not an http(s) URL" in str(raised.value)
    assert client._plain_http_ok("127.0.0.1") and client._plain_http_ok("insecure.example.com")
    assert not client._plain_http_ok("auth.example.com")


def test_an_upload_answer_without_location_is_a_registry_error_not_a_keyerror():
    from acrtasks.errors import RegistryError
    from acrtasks.registry.client import upload_location

    class Answer:
        url, status_code, headers = "http://r.io:5000/v2/a/blobs/uploads/", 202, {}

    with pytest.raises(RegistryError, match="r.io:5000: its answer to an upload .202. has no Location"):
        upload_location(Answer())
    Answer.headers = {"Location": "/v2/a/blobs/uploads/u1?state=x"}
    assert upload_location(Answer()) == "http://r.io:5000/v2/a/blobs/uploads/u1?state=x"


@pytest.mark.parametrize("text", ["no basic auth credentials", "Basic authentication required",
                                  "unauthorized: authentication required", "bearer token expired"])
def test_words_after_basic_or_bearer_are_not_taken_for_credentials(text):
    """docker's own "no basic auth credentials" was shown as "no basic *** credentials" and lost the login hint
    that is keyed on it."""
    from acrtasks.util.text import printable

    assert printable(text) == text
