"""``login`` and ``logout``: verify credentials against the registry, then store them like ``docker login``."""

import getpass
import os
import sys
from typing import Callable, Iterable, Optional, TextIO, Tuple

from ..errors import UsageError
from ..naming import parse_registry
from .credentials import Credentials, DockerConfig


def registry_host(registry_text: str) -> str:
    """Only the host counts: ``xxx.aliyuncs.com/ns`` logs in to ``xxx.aliyuncs.com``; ``myuser`` to Docker Hub."""
    if not registry_text:
        raise UsageError("no registry to log in to: pass --registry host, set ACRTASKS_REGISTRY or [registry] url")
    return parse_registry(registry_text).host


def ask_credentials(host: str, username: Optional[str], password_stdin: bool, stdin: TextIO = sys.stdin,
                    prompt: Callable[[str], str] = input,
                    secret_prompt: Callable[[str], str] = getpass.getpass) -> Credentials:
    """Username: given, else a prompt on a terminal. Password: stdin, $ACRTASKS_PASSWORD, else a hidden prompt."""
    interactive = stdin.isatty()
    if not username:
        if password_stdin or not interactive:
            raise UsageError(
                "no username: pass --username, set ACRTASKS_USERNAME or [registry] username in build.toml"
            )
        username = prompt(f"Username for {host}: ").strip()
        if not username:
            raise UsageError("no username given")
    if password_stdin:
        password = stdin.read().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: standard input was empty")
    elif os.environ.get("ACRTASKS_PASSWORD"):
        password = os.environ["ACRTASKS_PASSWORD"]
    elif interactive:
        password = secret_prompt(f"Password for {username}@{host}: ")
    else:
        raise UsageError(
            "no password: pipe it with --password-stdin, or set ACRTASKS_PASSWORD (there is no password flag)"
        )
    return Credentials(username, password)


def verify(host: str, credentials: Credentials, insecure_hosts: Iterable[str] = ()) -> None:
    """Ask the registry itself (Basic or Bearer challenge); raise kind ``auth`` when it refuses."""
    from .client import RegistryClient

    client = RegistryClient(host, credentials, insecure_hosts=insecure_hosts, tries=2)
    client.check_login()


def store(host: str, credentials: Credentials) -> Tuple[str, bool]:
    """Store like ``docker login``; return where, and whether it is plain base64 in config.json."""
    config = DockerConfig()
    where = config.store(host, credentials)
    return where, where == str(config.path)


def erase(host: str) -> Optional[str]:
    return DockerConfig().erase(host)
