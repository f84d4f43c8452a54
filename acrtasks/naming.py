"""The naming rules: registry strings, image references, and where each image goes.

Pure code, no I/O: everything here is a function of its arguments, so the rules
can be previewed (``inv test-naming``), planned (``--dry``) and tested alike.

The grammar follows the distribution project's ``reference`` package (what
docker and every OCI registry use). It is written out here rather than taken
from a library because the one pure-Python port on PyPI (docker-image-py)
pulls in the ``regex`` package for a dozen lines of patterns, and docker-py's
helpers must not be imported by ``inv --list`` or ``inv test-naming``.
"""

import re
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from .acr import DEFAULT_FLAT_HOSTS
from .errors import NamingError

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}

# distribution/reference grammar
PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*\Z")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOSTNAME = re.compile(rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*\Z")
_IPV6 = re.compile(r"\[[0-9a-fA-F:.]+\]\Z")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")
# go-digest's registered algorithms: each encoded as lowercase hex of exactly this length
DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
# distribution/reference (since v0.6) limits the path, the name without its host
_MAX_NAME_LENGTH = 255
TAG_RULE = "a tag is 1-128 of A-Z a-z 0-9 _ . - and must not start with '.' or '-'"
PATH_RULE = "lowercase letters and digits, separated by single '.', '_', '__' or runs of '-'"

LAYOUTS = ("auto", "flat", "nested")


def digest_problem(digest: str) -> Optional[str]:
    """Why ``digest`` is not one go-digest accepts (as docker, containerd and registries do), or None."""
    algorithm, _, encoded = digest.partition(":")
    if not DIGEST.match(digest):
        return "is not algorithm:hex"
    if algorithm not in DIGEST_LENGTHS:
        return f"uses the unsupported algorithm {algorithm!r} ({', '.join(DIGEST_LENGTHS)})"
    if len(encoded) != DIGEST_LENGTHS[algorithm]:
        return f"has {len(encoded)} hex digits where {algorithm} has {DIGEST_LENGTHS[algorithm]}"
    if encoded != encoded.lower():
        return "must be lowercase hex"
    return None


def short_digest(digest: str) -> str:
    """The first 12 hex digits, as docker shows an image id."""
    return digest.replace("sha256:", "")[:12]


def looks_like_host(segment: str) -> bool:
    """Docker's rule: the first path segment is a host if it has '.' or ':' or is 'localhost'."""
    return "." in segment or ":" in segment or segment == "localhost"


def check_tag(tag: str, what: str = "tag") -> str:
    """Return ``tag`` if it is a valid OCI tag, else raise with the reason and a fix."""
    if TAG.match(tag):
        return tag
    if not tag:
        raise NamingError(f"{what} is empty ({TAG_RULE})")
    if len(tag) > 128:
        raise NamingError(f"{what} {tag!r} is {len(tag)} characters long; {TAG_RULE}")
    if tag != tag.strip() and TAG.match(tag.strip()):  # "v0.0.3.3 " from a copied line or a CI variable
        where = " and ".join(side for side, there in (("leading", tag[0].isspace()), ("trailing", tag[-1].isspace()))
                             if there)
        raise NamingError(f"{what} {tag!r} has {where} white space (did you mean {tag.strip()!r}?)")
    bad = sorted({ch for ch in tag if not re.match(r"[A-Za-z0-9_.-]", ch)})
    fixed = re.sub(r"[^A-Za-z0-9_.-]", "-", tag).lstrip(".-") or "0"
    if bad:
        reason = "character(s) " + " ".join(repr(ch) for ch in bad) + " not allowed"
    else:
        reason = f"must not start with {tag[0]!r}"
    raise NamingError(f"{what} {tag!r} is invalid: {reason}; {TAG_RULE} (did you mean {fixed!r}?)")


def check_path_component(name: str, what: str) -> str:
    """Return ``name`` if it is one lowercase OCI path component, else raise."""
    if PATH_COMPONENT.match(name):
        return name
    fixed = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("._-")
    hint = f" (did you mean {fixed!r}?)" if fixed and PATH_COMPONENT.match(fixed) else ""
    raise NamingError(f"{what} {name!r} is invalid: use {PATH_RULE}{hint}")


def _check_host(host: str) -> Optional[str]:
    """Return why ``host`` (with optional port) is not a valid registry host, or None."""
    name, port = host, None
    if host.startswith("["):
        end = host.find("]")
        name, rest = host[: end + 1], host[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                return f"host {host!r} is malformed"
            port = rest[1:]
    elif ":" in host:
        name, port = host.rsplit(":", 1)
    if not (_HOSTNAME.match(name) or _IPV6.match(name)):
        return f"host {name!r} is not a valid host name"
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        return f"port {port!r} of {host!r} is not a number from 1 to 65535"
    return None


def _dns_problem(host: str) -> Optional[str]:
    """Why a registry the user names cannot be reached by DNS (RFC 1035's lengths), or None. Only for the registry
    given: the reference grammar sets no such limit on a ref's host, so refs read from files keep theirs."""
    name = split_host(host)[0]
    longest = max(name.split("."), key=len)
    if ":" in name or (len(name) <= 253 and len(longest) <= 63):
        return None
    return (f"host name {name[:40]}... is {len(name)} characters with a label of {len(longest)}: a host name has at "
            "most 253, each dot-separated label at most 63")


def split_host(host: str) -> Tuple[str, Optional[int]]:
    """``[::1]:5000`` -> (``::1``, 5000); ``example.com`` -> (``example.com``, None)."""
    if host.startswith("["):
        end = host.index("]")
        rest = host[end + 1 :]
        return host[1:end], int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    name, _, port = host.partition(":")
    return name, int(port) if port.isdigit() else None


def is_loopback_host(host: str) -> bool:
    """Loopback, where docker (and we) may speak plain HTTP: localhost, 127.0.0.0/8, ::1."""
    name = split_host(host)[0]
    return name in ("localhost", "::1") or name.startswith("127.")


@dataclass(frozen=True)
class Registry:
    """Where images go: a host (with port) and an optional namespace path."""

    host: str
    path: str = ""

    def __str__(self) -> str:
        return f"{self.host}/{self.path}" if self.path else self.host

    @property
    def hostname(self) -> str:
        """The host without its port (brackets kept off an IPv6 address)."""
        return split_host(self.host)[0]

    @property
    def is_docker_hub(self) -> bool:
        return self.host == DOCKER_HUB

    def is_flat_host(self, flat_hosts: Sequence[str]) -> bool:
        """True when the host (without port) ends with one of ``flat_hosts`` on a label boundary."""
        name = self.hostname.lower()
        for suffix in flat_hosts:
            bare = suffix.lower().lstrip(".")
            if bare and (name == bare or name.endswith("." + bare)):
                return True
        return False


def _suggest_registry(text: str) -> str:
    fixed = re.sub(r"\s+", "", text)
    fixed = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", fixed).lower()
    fixed = re.sub(r"[^a-z0-9._:/\[\]-]", "", fixed)
    fixed = re.sub(r"/{2,}", "/", fixed).strip("/")
    return fixed


def parse_registry(text: str) -> Registry:
    """Parse ``host[:port][/namespace...]`` or a bare Docker Hub namespace.

    One trailing ``/`` is dropped. Anything else that is off (a scheme,
    whitespace, empty segments, upper case, illegal characters) is rejected
    with the corrected value in the message, rather than silently fixed,
    because a registry string usually travels on into CI variables.
    """
    raw = text[:-1] if text.endswith("/") else text
    reason = None
    if not raw:
        reason = "it is empty"
    elif re.search(r"\s", raw):
        reason = "it contains whitespace"
    elif re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", raw):
        reason = "a scheme is not part of a registry (docker chooses https, or http on loopback)"
    elif "" in raw.split("/"):
        reason = "it has an empty path segment"
    elif raw != raw.lower():
        reason = "upper case is not allowed"
    if reason is None:
        first, _, rest = raw.partition("/")
        if looks_like_host(first):
            host, path = first, rest
            reason = _check_host(host) or _dns_problem(host)
        else:
            host, path = DOCKER_HUB, raw
        if host in _DOCKER_HUB_ALIASES:
            host = DOCKER_HUB
        for segment in path.split("/") if path and reason is None else []:
            if not PATH_COMPONENT.match(segment):
                reason = f"namespace segment {segment!r} is invalid ({PATH_RULE})"
                break
        if reason is None:
            return Registry(host=host, path=path)
    fixed = _suggest_registry(text)
    hint = f" (did you mean {fixed!r}?)" if fixed and fixed != text and _is_valid_registry(fixed) else ""
    raise NamingError(f"registry {text!r} is invalid: {reason}{hint}")


def _is_valid_registry(text: str) -> bool:
    try:
        parse_registry(text)
    except NamingError:
        return False
    return True


@dataclass(frozen=True)
class ImageRef:
    """An image reference: ``host/repository[:tag][@digest]``; ``host`` "" is an engine-local name.

    Every instance is valid: construction checks each limit of the grammar
    (path components, the 255-character name, the tag, the digest), so a ref
    that exists at all can be built, tagged and pushed.
    """

    host: str
    repository: str
    tag: Optional[str] = None
    digest: Optional[str] = None

    def __post_init__(self) -> None:
        for segment in self.repository.split("/"):
            if not PATH_COMPONENT.match(segment):
                raise NamingError(f"path component {segment!r} of {self.locator!r} must be {PATH_RULE}")
        if len(self.repository) > _MAX_NAME_LENGTH:
            raise NamingError(
                f"repository name {self.repository!r} is {len(self.repository)} characters long (without the "
                f"host); the limit is {_MAX_NAME_LENGTH} (shorten [project] name, image_prefix, the component or "
                "the namespace)"
            )
        if self.tag is not None:
            check_tag(self.tag, f"tag of {self.locator!r}")
        problem = digest_problem(self.digest) if self.digest is not None else None
        if problem:
            raise NamingError(f"digest {self.digest!r} of {self.locator!r} {problem}")

    def __str__(self) -> str:
        text = self.locator
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def name(self) -> str:
        """The last path component: ``bitnami/redis`` -> ``redis``."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def locator(self) -> str:
        """``host/repository``, what a rename key or a push target names."""
        return f"{self.host}/{self.repository}" if self.host else self.repository

    @property
    def reference(self) -> str:
        """What a registry is asked for: the digest, else the tag, else ``latest``."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: Optional[str]) -> "ImageRef":
        """The same repository at ``tag``, without a digest."""
        return ImageRef(self.host, self.repository, tag)

    @classmethod
    def parse(cls, text: str) -> "ImageRef":
        """Parse a reference the way docker does (``postgres:15`` = ``docker.io/library/postgres:15``)."""
        if not text or text != text.strip() or re.search(r"\s", text):
            raise NamingError(f"image reference {text!r} is invalid: empty or contains whitespace")
        if len(text) > 4 * _MAX_NAME_LENGTH:  # host + name + tag + digest cannot be longer; don't regex a novel
            raise NamingError(f"image reference {text[:40]!r}... is {len(text)} characters long; "
                              f"a name is at most {_MAX_NAME_LENGTH}")
        rest, digest = text, None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
        tag = None
        last_slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > last_slash:
            rest, tag = rest[:colon], rest[colon + 1 :]
        first, _, remainder = rest.partition("/")
        if remainder and looks_like_host(first):
            host, repository = first, remainder
            bad_host = _check_host(host)
            if bad_host:
                raise NamingError(f"image reference {text!r} is invalid: {bad_host}")
        else:
            host, repository = DOCKER_HUB, rest
        if host in _DOCKER_HUB_ALIASES:
            host = DOCKER_HUB
            if "/" not in repository:
                repository = f"library/{repository}"
        try:
            return cls(host=host, repository=repository, tag=tag, digest=digest)
        except NamingError as exc:
            raise NamingError(f"image reference {text!r} is invalid: {exc}") from None

    @classmethod
    def parse_engine_name(cls, text: str) -> "ImageRef":
        """A name as the engine lists it (``RepoTags``): ``demo-api:1`` stays a host-less local name, with its
        tag; a name with a path (``bitnami/redis:7``, ``host/ns/app:1``) parses as :meth:`parse` does."""
        if "/" in text:
            return cls.parse(text)
        ref = cls.parse(text)
        if ref.tag is None:
            raise NamingError(f"local image name {text!r} has no tag")
        return cls("", ref.name, ref.tag, ref.digest)


# NamedTuple, not a frozen dataclass: cheaper to define on every start (see config.Component).
class Dependency(NamedTuple):
    """A dependency image: where it comes from and where it goes."""

    source: ImageRef
    target: ImageRef
    unpinned: bool = False  # no tag (``latest`` assumed) or ``latest`` itself, without a digest
    platforms: Tuple[str, ...] = ()  # the entry's own --platform= (images.txt); () = [deps] platforms


def resolve_layout(registry: Optional[Registry], layout: str, flat_hosts: Sequence[str]) -> str:
    """Return ``flat``, ``nested`` or ``local`` (no registry)."""
    if layout not in LAYOUTS:
        raise NamingError(f"layout {layout!r} is invalid: use one of {', '.join(LAYOUTS)}")
    if registry is None:
        return "local"
    if layout == "auto":
        return "flat" if registry.is_flat_host(flat_hosts) else "nested"
    return layout


@dataclass(frozen=True)
class Naming:
    """The naming rules of one project for one registry.

    ``registry`` None means local tags only. Build it with :func:`naming_for`,
    which checks the combination once so the methods cannot fail on it.
    """

    project: str
    image_prefix: str
    registry: Optional[Registry]
    layout: str  # flat | nested | local

    @property
    def namespace(self) -> str:
        """The registry path images go under (flat: defaults to the project name)."""
        if self.registry is None:
            return ""
        if self.layout == "flat":
            return self.registry.path or self.project
        return self.registry.path

    def _repository(self, name: str) -> ImageRef:
        assert self.registry is not None
        path = f"{self.namespace}/{name}" if self.namespace else name
        return ImageRef(self.registry.host, path)

    def local_ref(self, component: str, version: str) -> ImageRef:
        """The engine-local name every build gets: ``<image_prefix><component>:<version>``."""
        return ImageRef("", self.image_prefix + component, check_tag(version, "version"))

    def component_ref(self, component: str, version: str) -> ImageRef:
        """Where ``component`` at ``version`` goes; the local name when there is no registry."""
        check_path_component(component, "component")
        check_tag(version, "version")
        if self.layout == "local":
            return self.local_ref(component, version)
        if self.layout == "flat":
            tag = check_tag(f"{component}-{version}", f"tag for component {component!r}")
            return self._repository(self.project).with_tag(tag)
        return self._repository(self.image_prefix + component).with_tag(version)

    def cache_ref(self, component: str) -> Optional[ImageRef]:
        """Where ``component``'s registry build cache lives, beside its images, one per component and not
        per version (every version builds from it): flat ``<ns>/<project>:<component>-buildcache``, nested
        ``<ns>/<prefix><component>:buildcache``; None without a registry."""
        check_path_component(component, "component")
        if self.layout == "local":
            return None
        if self.layout == "flat":
            return self._repository(self.project).with_tag(check_tag(f"{component}-buildcache", "cache tag"))
        return self._repository(self.image_prefix + component).with_tag("buildcache")

    def labelled_refs(
        self, component: str, version: str, aliases: Sequence[str] = (), tag_latest: bool = False
    ) -> List[Tuple[ImageRef, str]]:
        """Every ref one build is tagged with, each with what it is (``local``, ``registry``, ``alias``, plus
        ``latest``): the local names first, then the registry refs (component, aliases, then their ``latest``
        forms). Without a registry, aliases get local names of their own (``<prefix><alias>:<version>``)."""
        versions = [version, "latest"] if tag_latest else [version]
        entries = [(self.local_ref(component, ver), "local", ver) for ver in versions]
        if self.layout == "local":
            entries += [(self.local_ref(alias, ver), "local alias", ver) for ver in versions for alias in aliases]
        else:
            names = [(component, "registry"), *((alias, "alias") for alias in aliases)]
            entries += [(self.component_ref(name, ver), kind, ver) for ver in versions for name, kind in names]
        labelled: Dict[ImageRef, str] = {}
        for ref, kind, ver in entries:
            labelled.setdefault(ref, f"{kind}, latest" if ver == "latest" != version else kind)
        return list(labelled.items())

    def dependency(self, source_text: str, rename: Optional[Dict[str, str]] = None) -> Dependency:
        """Map a dependency source such as ``postgres:15`` or ``bitnami/redis:7`` to its target."""
        if self.registry is None:
            raise NamingError(
                f"dependency {source_text!r} needs a registry: set [registry] url, [deps] namespace or --registry"
            )
        source = ImageRef.parse(source_text)
        if source.digest and not source.tag:
            raise NamingError(
                f"dependency {source_text!r} has a digest but no tag; write it as name:tag@digest "
                "so the mirrored image gets a tag"
            )
        # no tag, or `latest` without a digest: whatever the source holds today is what gets mirrored
        unpinned = source.tag in (None, "latest") and source.digest is None
        if source.tag is None:
            source = ImageRef(source.host, source.repository, "latest", source.digest)
        name = _renamed(source, rename or {})
        check_path_component(name, f"target name of dependency {source_text!r}")
        target = self._repository(name).with_tag(source.tag)
        return Dependency(source=source, target=target, unpinned=unpinned)

    def dependencies(self, sources: Sequence[str], rename: Optional[Dict[str, str]] = None) -> List[Dependency]:
        """Map every source; de-duplicate; refuse two sources that land on one target."""
        seen: Dict[str, Dependency] = {}
        result = []
        for text in sources:
            dep = self.dependency(text, rename)
            key = str(dep.target)
            other = seen.get(key)
            if other is None:
                seen[key] = dep
                result.append(dep)
            elif other.source != dep.source:
                raise NamingError(
                    f"dependencies {str(other.source)!r} and {str(dep.source)!r} both map to {key!r}; "
                    f'set [deps] rename = {{ "{dep.source.locator}" = "{_rename_hint(dep.source)}" }} '
                    "in build.toml to tell them apart"
                )
        return result

    def map_image_name(self, local_name: str, version: str) -> str:
        """Map any local image name: a component when it starts with image_prefix, else a dependency."""
        if self.image_prefix and local_name.startswith(self.image_prefix):
            return str(self.component_ref(local_name[len(self.image_prefix) :], version))
        return str(self.dependency(f"{local_name}:{version}").target)


def _renamed(source: ImageRef, rename: Dict[str, str]) -> str:
    """The target name of ``source``: a rename entry for it, else its last path component."""
    for key, value in rename.items():
        try:
            wanted = ImageRef.parse(key)
        except NamingError:
            continue
        if wanted.locator == source.locator:
            return value
    return source.name


def _rename_hint(source: ImageRef) -> str:
    parts = source.repository.split("/")
    return "-".join(parts[-2:]) if len(parts) > 1 and parts[0] != "library" else f"{source.name}-2"


def naming_for(
    project: str,
    image_prefix: str,
    registry_text: str,
    layout: str = "auto",
    flat_hosts: Sequence[str] = DEFAULT_FLAT_HOSTS,
) -> Naming:
    """Check a project/registry/layout combination once and return its :class:`Naming`."""
    check_path_component(project, "project name")
    if image_prefix and not PATH_COMPONENT.match(image_prefix + "x"):
        raise NamingError(f"image_prefix {image_prefix!r} is invalid: it must start a name made of {PATH_RULE}")
    registry = parse_registry(registry_text) if registry_text else None
    resolved = resolve_layout(registry, layout, flat_hosts)
    if resolved == "flat" and registry is not None and "/" in registry.path:
        raise NamingError(
            f"registry {registry_text!r}: flat layout (ACR) takes one namespace level, got {registry.path!r}; "
            f"use {registry.host}/{registry.path.split('/')[0]}"
        )
    if resolved == "nested" and registry is not None and registry.is_docker_hub and not registry.path:
        raise NamingError(
            f"registry {registry_text!r}: Docker Hub needs a namespace (e.g. docker.io/<user>)"
        )
    return Naming(project=project, image_prefix=image_prefix, registry=registry, layout=resolved)

