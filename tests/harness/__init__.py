"""Throwaway real services for the tests, the demo and the benchmarks; everything started is stopped by pid,
every wait is bounded.

- ``engines``: :class:`DockerEngine` (an isolated ``dockerd`` of a kind in :data:`ENGINE_KINDS`, 20.10 classic
  store or 26.1 containerd store with buildx, as :class:`EngineKind` finds it: own socket, data-root, exec-root,
  pidfile and a :class:`Bridge` of its own name and subnet; or the engine ``$DOCKER_HOST`` already points at),
  :func:`ensure_base_image` (the examples' busybox base, imported offline), :data:`BASE_IMAGE`.
- ``registries``: :class:`Registry` (the CNCF distribution registry on a free loopback port: plain, htpasswd, TLS
  with :func:`make_tls`'s CA, request logs), :class:`RegistryWriter` and :func:`make_layer` (images written straight
  through the registry API: platform images, indexes).
- ``fakes``: :class:`TokenServer` (Bearer token auth, the realm on another port).
- ``hub``: :class:`HubLikeRegistry` (Docker Hub's pull limit in front of a real registry: the rate-limit
  headers, 429s; its docstring says where each behaviour is known from).
- ``acr``: :class:`AcrRegistry` (ACR's refusals in front of a real registry: OCI artifacts, undeclared
  namespaces, immutable tags; its docstring says where each behaviour is known from).
- ``proxies``: :class:`FaultyRegistry` (one fault on purpose in front of a real registry: see its docstring),
  :class:`CredentialTrap` (asks for credentials, then tries to get them sent to :class:`Elsewhere`),
  :class:`MutatingRegistry` (a registry's answers with a fuzz test's mutations), :class:`ForwardProxy` and
  :class:`TunnelProxy` (HTTP and HTTPS proxies), :class:`LatencyRelay` (a round trip
  added to every byte).
- ``servers``: the HTTP plumbing they share (:class:`LoopbackServer`, :class:`QuietHandler`, ``read_body``,
  ``forward``, ``send``), and :class:`SilentServer` (accepts, never answers).
- ``compose``: :func:`compose_config` (Docker Compose 2.40's own reading of a project: the oracle for ours).
- ``cosign``: cosign 3.1 itself (:func:`make_key_pair`, :func:`verify`): the oracle of what ``inv sign`` wrote.
- ``referrers``: :class:`ReferrersRegistry` (the OCI 1.1 Referrers API in front of a real registry, which has none).
- ``processes``: :class:`HarnessError`, :func:`free_port`, :func:`wait_for`, :func:`stop_process`, :func:`git`.
"""

from .engines import (
           BASE_IMAGE,
           ENGINE_KINDS,
           Bridge,
           DockerEngine,
           EngineKind,
           engine_reachable,
           ensure_base_image,
           find_kind,
)
from .acr import AcrRegistry
from .compose import compose_binary, compose_config
from .cosign import cosign_binary, make_key_pair
from .fakes import TokenServer
from .hub import HubLikeRegistry
from .processes import HarnessError, free_port, git, peak_rss_child, run_measured, stop_process, wait_for
from .proxies import (CredentialTrap, Elsewhere, FaultyRegistry, ForwardProxy, LatencyRelay, MutatingRegistry,
                      TunnelProxy)
from .referrers import ReferrersRegistry
from .registries import Registry, RegistryWriter, make_layer, make_tls
from .servers import LoopbackServer, QuietHandler, SilentServer, forward, gzip_bomb, read_body, send

__all__ = ["AcrRegistry", "BASE_IMAGE", "ENGINE_KINDS", "Bridge", "CredentialTrap", "DockerEngine", "Elsewhere", "HubLikeRegistry",
           "EngineKind", "FaultyRegistry", "ForwardProxy", "HarnessError", "LatencyRelay",
           "LoopbackServer", "MutatingRegistry", "QuietHandler", "ReferrersRegistry", "Registry", "RegistryWriter", "SilentServer", "TokenServer", "TunnelProxy",
           "compose_binary", "compose_config", "cosign_binary", "make_key_pair", "engine_reachable", "ensure_base_image", "find_kind", "forward", "free_port", "git", "gzip_bomb", "make_layer", "peak_rss_child", "make_tls", "run_measured", "read_body",
           "send", "stop_process", "wait_for"]
