"""Registry credentials where the docker CLI keeps them: ``$DOCKER_CONFIG/config.json``.

Lookup order per host is docker's: ``credHelpers[host]``, then ``credsStore``,
then ``auths[host].auth`` (base64 ``user:password``). A helper is the program
``docker-credential-<name>``, and the secret only ever travels on its stdin.
The file is rewritten atomically (temp file, fsync, rename) with mode 0600,
keeping every key we do not own.
"""

import base64
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from ..errors import CredentialError, UsageError
from ..util import inputs, jsonfile
from ..util.inputs import parse_json
from ..util.programs import run_bounded

DOCKER_HUB_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    #: A refresh token from a token login (``identitytoken`` in config.json): traded for access tokens
    #: at the registry's token service (OAuth2 ``grant_type=refresh_token``) instead of a password.
    identity_token: str = field(default="", repr=False)


IDENTITY_TOKEN_USER = "<token>"  # a helper's Username when its Secret is an identity token
MAX_HELPER_OUTPUT = 1 << 20


def auth_key(host: str) -> str:
    """The key docker files a host's credentials under (Docker Hub has a legacy URL)."""
    return DOCKER_HUB_KEY if host == "docker.io" else host


def _host_of_key(key: str) -> str:
    """``https://host/v1/`` -> ``host``: docker accepts auths keys written as URLs."""
    text = key.split("://", 1)[-1]
    return text.split("/", 1)[0]


class DockerConfig:
    """``config.json`` in ``directory`` (default ``$DOCKER_CONFIG``, else ``~/.docker``)."""

    def __init__(self, directory: Optional[Path] = None):
        if directory is None:
            directory = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
        self.directory = Path(directory)
        self.path = self.directory / "config.json"

    def load(self) -> Dict[str, Any]:
        """The file as docker reads it, its shape checked where we rely on it."""
        text = inputs.read_text(self.path, "docker config", missing_ok=True)
        data = inputs.load_json(text, self.path, "docker config") if text and text.strip() else {}
        inputs.expect(data, dict, self.path, "the document")
        inputs.expect(data.get("auths") or {}, dict, self.path, "'auths'")
        inputs.expect(data.get("credHelpers") or {}, dict, self.path, "'credHelpers'")
        for key, helper in (data.get("credHelpers") or {}).items():
            inputs.expect(helper, str, self.path, f"credHelpers[{key!r}]")
        inputs.expect(data.get("credsStore") or "", str, self.path, "'credsStore'")
        return data

    def helper_for(self, host: str, data: Optional[Dict[str, Any]] = None) -> Optional[str]:
        data = self.load() if data is None else data
        helpers = data.get("credHelpers") or {}
        return helpers.get(auth_key(host)) or helpers.get(host) or data.get("credsStore") or None

    # -- reading ------------------------------------------------------------------------------

    def get(self, host: str) -> Optional[Credentials]:
        """The stored credentials for ``host``, or None."""
        data = self.load()
        helper = self.helper_for(host, data)
        if helper:
            found = self._helper(helper, "get", auth_key(host), missing_ok=True)
            if found:
                return _helper_reply(found, helper)
        for key, entry in (data.get("auths") or {}).items():
            if key != auth_key(host) and _host_of_key(key) != host:
                continue
            if not isinstance(entry, dict):
                continue
            if entry.get("identitytoken"):
                token = inputs.expect(entry["identitytoken"], str, self.path, f"auths[{key!r}].identitytoken")
                return Credentials(entry.get("username", "") or "", "", identity_token=token)
            if entry.get("auth"):
                try:
                    user, _, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
                except (ValueError, TypeError, UnicodeDecodeError):
                    raise UsageError(f"{self.path}: auths[{key!r}].auth is not base64 user:password") from None
                return Credentials(user, password)
            if entry.get("username"):
                return Credentials(entry["username"], entry.get("password", ""))
        return None

    # -- writing ------------------------------------------------------------------------------

    def store(self, host: str, credentials: Credentials) -> str:
        """Store credentials as the docker CLI would; return where (for the message)."""
        with jsonfile.locked(self.path):  # concurrent logins must not drop each other's entries
            return self._store(host, credentials)

    def _store(self, host: str, credentials: Credentials) -> str:
        data = self.load()
        helper = self.helper_for(host, data)
        key = auth_key(host)
        if helper:
            secret = json.dumps({"ServerURL": key, "Username": credentials.username, "Secret": credentials.password})
            self._helper(helper, "store", secret)
            # docker leaves an empty entry so `docker info`/lookups know the host is logged in
            auths = data.setdefault("auths", {})
            if key not in auths:
                auths[key] = {}
                self._write(data)
            return f"credential helper docker-credential-{helper}"
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
        data.setdefault("auths", {})[key] = {"auth": token}
        self._write(data)
        return str(self.path)

    def erase(self, host: str) -> Optional[str]:
        """Remove stored credentials; return where they were, or None when there were none."""
        with jsonfile.locked(self.path):
            return self._erase(host)

    def _erase(self, host: str) -> Optional[str]:
        data = self.load()
        helper = self.helper_for(host, data)
        key = auth_key(host)
        where = None
        if helper:
            if self._helper(helper, "get", key, missing_ok=True) is not None:
                self._helper(helper, "erase", key, missing_ok=True)
                where = f"credential helper docker-credential-{helper}"
        auths = data.get("auths") or {}
        if key in auths:
            del auths[key]
            self._write(data)
            where = where or str(self.path)
        return where

    def _write(self, data: Dict[str, Any]) -> None:
        jsonfile.write_atomically(self.path, data, 0o600, indent="\t")  # docker's own layout

    def _helper(self, name: str, action: str, stdin: str, missing_ok: bool = False) -> Optional[str]:
        """Run ``docker-credential-<name> <action>``; the payload (and any secret) goes on stdin only."""
        program = f"docker-credential-{name}"
        try:
            done = run_bounded([program, action], input=stdin.encode(), limit=MAX_HELPER_OUTPUT, timeout=60)
        except FileNotFoundError:
            raise CredentialError(
                f"{program} (named by credsStore/credHelpers in {self.path}) is not on PATH; "
                "install it or remove it from the config"
            ) from None
        except OSError as exc:
            raise CredentialError(f"cannot run {program} ({exc.strerror or exc})") from None
        except subprocess.TimeoutExpired:
            raise CredentialError(f"{program} {action} did not answer within 60 s") from None
        if done.overflowed:
            raise CredentialError(f"{program} {action} wrote more than {MAX_HELPER_OUTPUT >> 20} MiB; that is no "
                                  "credential (stopped)")
        stdout = done.stdout.decode("utf-8", "replace")
        if done.returncode != 0:
            message = (stdout + done.stderr.decode("utf-8", "replace")).strip()
            if missing_ok and "credentials not found" in message.lower():
                return None
            last = message.splitlines()[-1][:200] if message else "no output"
            raise CredentialError(f"{program} {action} failed (exit {done.returncode}): {last}")
        return stdout


def _helper_reply(text: str, helper: str) -> Optional[Credentials]:
    """A helper's ``get`` answer, ``{"Username": ..., "Secret": ...}``, checked: it is another program's output."""
    program = f"docker-credential-{helper}"
    try:
        reply = parse_json(text)
    except ValueError:
        raise CredentialError(f"{program} get answered something that is not JSON "
                              f"({len(text)} bytes); fix or replace the helper") from None
    if not isinstance(reply, dict) or not all(isinstance(reply.get(k, ""), str) for k in ("Username", "Secret")):
        raise CredentialError(f"{program} get answered JSON without string Username/Secret; fix or replace "
                              "the helper")
    if not (reply.get("Username") or reply.get("Secret")):
        return None
    if reply.get("Username") == IDENTITY_TOKEN_USER:  # docker's convention for a refresh token from a helper
        return Credentials("", "", identity_token=reply["Secret"])
    return Credentials(reply.get("Username", ""), reply.get("Secret", ""))
