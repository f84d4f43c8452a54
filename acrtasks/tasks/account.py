"""login and logout: credentials verified against the registry, stored where docker finds them."""

import os
from typing import Optional


from ..errors import Kind, OperationFailed, RegistryError
from ..util.console import Console
from .common import boundary, dry_footer, is_dry, shared, start, task


def _target(c, registry: Optional[str]):
    """build.toml and the registry host to log in to: the flag, else $ACRTASKS_REGISTRY, else [registry] url."""
    from ..registry.login import registry_host

    run = start(c)
    config = run.config()
    text = registry if registry is not None else os.environ.get("ACRTASKS_REGISTRY") or config.registry
    return run, config, registry_host(text)


@task(help=shared("registry",
                  username="registry user; default: $ACRTASKS_USERNAME, [registry] username, else a prompt on a "
                           "terminal",
                  password_stdin="read the password (or ACR temporary token) from standard input"))
@boundary
def login(c, registry=None, username=None, password_stdin=False):
    """Verify registry credentials and store them where docker and acrtasks both find them."""
    from ..registry import login as account

    run, config, host = _target(c, registry)
    user = username or os.environ.get("ACRTASKS_USERNAME") or config.username
    if is_dry(c):
        print(f"would verify credentials for {host} and store them in the docker config")
        return dry_footer(run)
    credentials = account.ask_credentials(host, user, password_stdin)
    try:
        account.verify(host, credentials, config.insecure_hosts)
    except RegistryError as exc:
        if exc.kind == Kind.AUTH:
            raise OperationFailed(f"login to {host} as {credentials.username} refused: {exc}") from None
        raise
    where, plaintext = account.store(host, credentials)
    if plaintext:
        Console().warn(f"the password is stored unencrypted in {where}; configure a credential helper "
                       "(credsStore in config.json) to avoid it")
    print(f"Login succeeded: {host} as {credentials.username} (stored in {where})")


@task(help=shared("registry"))
@boundary
def logout(c, registry=None):
    """Remove stored credentials for a registry (helper or config.json), like docker logout."""
    from ..registry import login as account

    run, _, host = _target(c, registry)
    if is_dry(c):
        print(f"would remove stored credentials for {host}")
        return dry_footer(run)
    where = account.erase(host)
    print(f"Logged out of {host} (removed from {where})" if where else f"Not logged in to {host}")
