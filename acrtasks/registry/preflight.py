"""Before the first build or copy: can we push to every target repository?

A registry can refuse a push for reasons no login check sees: ACR answers a push
into a namespace nobody created with a bare ``denied`` at the first blob upload,
after the builds have run. So the preflight does what the first push would do,
and undoes it: with push scope, it opens one blob upload per target repository
and cancels it at once (one per namespace: see check_push). Nothing is left in the registry (an unused upload
session is deleted; the repository is not created by a session alone).
"""

from typing import Dict, Iterable, List, Tuple

from ..acr import is_acr_host
from ..errors import Kind, RegistryPreflightError, RegistryError, login_hint
from ..naming import ImageRef
from .client import Clients, RegistryClient, cancel_upload, upload_location

SKIP_HINT = "--no-preflight skips this check"


def check_push(clients: Clients, refs: Iterable[ImageRef], what: str = "nothing built or pushed") -> List[Tuple[str, str]]:
    """Probe one repository of every (host, namespace) of ``refs``; one line per refusing registry in a
    PreflightError. Returns the (host, repository) pairs covered, so a chain does not probe them twice.

    One probe per namespace, not per repository: what refuses a push (credentials, a namespace that does not
    exist, rights, which ACR and Harbor grant per namespace or project) is the same for its repositories, and
    a no-op push-deps of 50 images into one namespace should not cost 100 requests more."""
    repositories: Dict[str, List[str]] = {}
    covered: List[Tuple[str, str]] = []
    seen = set()
    for ref in refs:
        if not ref.host:
            continue
        covered.append((ref.host, ref.repository))
        namespace = (ref.host, ref.repository.rsplit("/", 1)[0] if "/" in ref.repository else "")
        if namespace not in seen:
            seen.add(namespace)
            repositories.setdefault(ref.host, []).append(ref.repository)
    problems = []
    for host, names in repositories.items():
        client = clients.get(host)
        for repository in names:
            try:
                _open_and_cancel(client, repository)
            except RegistryError as exc:
                problems.append(_why(host, repository, exc))
                break  # one line per registry: its other repositories would say the same
    if problems:
        raise RegistryPreflightError(f"{what}: {'; '.join(problems)} ({SKIP_HINT})")
    return covered


def _open_and_cancel(client: RegistryClient, repository: str) -> None:
    response = client.request("POST", f"/v2/{repository}/blobs/uploads/", scope=f"repository:{repository}:pull,push",
                              ok=(202,))
    response.close()
    if response.headers.get("Location"):
        # Waited for, not cut short: a first push right after must not meet the registry still removing it.
        cancel_upload(client, upload_location(response), repository, timeout=5)


def _why(host: str, repository: str, exc: RegistryError) -> str:
    """The cause in words: credentials, a namespace that does not exist (or no right to it), or the registry."""
    namespace = repository.split("/", 1)[0] if "/" in repository else ""
    if exc.kind == Kind.AUTH and exc.status == 403 and namespace:
        console = " (ACR: create it in the console, 命名空间 → 创建命名空间)" if is_acr_host(host) else ""
        return (f"{host} refused a push to {repository}: namespace '{namespace}' does not exist{console}, or "
                f"this account may not push there ({exc})")
    if exc.kind == Kind.AUTH:
        return f"{host} refused our credentials ({exc}); {login_hint(host, str(exc))}"
    return f"{host}: {exc}"
