"""Which ref an image value in a deployment file should become: components, aliases, dependencies.

Two rules, because a deployment file holds two kinds of values. A field that
is an image by its schema (compose ``image``, a container's ``image``, Helm
``image`` maps, kustomize ``images``) matches by repository, whatever its
registry and tag: a component's local name, its nested or flat registry ref at
any version, a dependency's source or mirrored ref (at the dependency's tag:
another tag is reported and left alone). Any other value (``environment``,
``.env``, container ``env``, ConfigMap ``data``) is an image only when nothing
else can be meant: see :meth:`ReleaseRefs.for_value`. Targets come from the
naming code ``push`` and ``push-deps`` use, for the deploy registry.
"""

from dataclasses import dataclass
from typing import AbstractSet, Dict, List, Optional, Sequence, Tuple

from ..config import Settings, pin_problem
from ..errors import NamingError, UsageError
from ..naming import ImageRef, naming_for
from ..release.images import release_of


NOT_IN_RELEASE = "not in this release"  # build.toml has it; this release did not push it
NOT_SELECTED = "not selected"  # --component left it out


@dataclass(frozen=True)
class ReleaseImage:
    """One image of the release as deployment files see it: what it is called, where it was pushed, and the ref
    deployments get (:class:`acrtasks.release.images.Release` knows every image; this is one of them, seen from here)."""

    kind: str  # component | dependency
    name: str  # component or alias name; a dependency's source
    pushed: ImageRef  # where push / push-deps put it (digests are looked up there)
    deployed: ImageRef  # what deployment files get (the deploy registry may be another endpoint)
    metadata_key: str  # component name, or "@deps" for dependencies
    source: Optional[ImageRef] = None  # a dependency's source (where it is mirrored from)
    left: str = ""  # why its values are left as they are ("not in this release", "not selected"); "": written


class ReleaseRefs:
    """The release's images and the matcher from any image value to one of them."""

    def __init__(self, settings: Settings, deploy_registry: Optional[str] = None,
                 members: Optional[AbstractSet[str]] = None, selected: Sequence[str] = ()):
        """``members``: the components and ``dep:<target>`` dependencies the release holds (None: all of
        build.toml's); ``selected``: only these components (``--component``)."""
        config = settings.config
        chosen = {c.name for c in settings.components(selected)} if selected else None
        release = release_of(settings)
        self.project, self.prefix = config.project, config.image_prefix
        push_naming = settings.naming
        deploy_text = deploy_registry if deploy_registry is not None else settings.registry
        deploy_naming = (naming_for(config.project, config.image_prefix, deploy_text, settings.layout_setting,
                                    config.flat_hosts) if deploy_text else push_naming)
        self.layout = deploy_naming.layout
        self.by_name: Dict[str, ReleaseImage] = {}
        for component in config.components.values():
            for name in (component.name, *component.aliases):  # an alias's own ref, as push makes it
                self.by_name[name] = ReleaseImage(
                    "component", name, release.component(name).ref,
                    deploy_naming.component_ref(name, settings.version), component.name,
                    left=NOT_IN_RELEASE if members is not None and component.name not in members else
                    NOT_SELECTED if chosen is not None and component.name not in chosen else "")
        self.deps: List[ReleaseImage] = []
        push_host = push_naming.registry.host if push_naming.registry else None
        deploy_host = deploy_naming.registry.host if deploy_naming.registry else None
        for dep in release.dependencies:
            deployed = dep.target
            if deploy_host and deployed.host == push_host:  # same registry, the deploy endpoint
                deployed = ImageRef(deploy_host, deployed.repository, deployed.tag)
            self.deps.append(ReleaseImage("dependency", str(dep.source), dep.target, deployed, "@deps", dep.source,
                                          "" if members is None or f"dep:{dep.target}" in members else
                                          NOT_IN_RELEASE))
        self._names_longest_first = sorted(self.by_name, key=len, reverse=True)

    def for_image_field(self, value: str) -> Tuple[Optional[ReleaseImage], str]:
        """The release image a schema image field names (``image:`` and the like), matched by repository as
        before: (the image, ""), or (None, why it is left alone), or (None, "") when it is not ours."""
        try:
            ref = ImageRef.parse(value)
        except NamingError:
            return None, ""
        candidates = [dep for dep in self.deps if ref.locator in _locators(dep)]
        if candidates:
            tag = ref.tag or "latest"
            same = [dep for dep in candidates if dep.pushed.tag == tag]
            if same:
                return same[0], ""
            mirrored = ", ".join(str(dep.source) for dep in candidates)
            return None, f"tag {tag!r} is not the release's (it mirrors {mirrored})"
        return self._component(ref), ""

    def for_value(self, value: str) -> Optional[ReleaseImage]:
        """The release image an environment-like value names, only when that is unambiguous.

        A value in ``environment``, ``.env``, a container's ``env`` or a
        ConfigMap is an image only when it carries a tag or digest and names a
        release image exactly: a component by its local or registry name (a
        local name with a port-like tag is a ``host:port``), or a dependency by
        its source or mirrored ref with the same tag. A bare word, a URL, a
        ``host:port`` is never one.
        """
        if "://" in value:
            return None
        try:
            ref = ImageRef.parse(value)
        except NamingError:
            return None
        if not (ref.tag or ref.digest):
            return None
        for dep in self.deps:
            if ref.locator in _locators(dep) and ref.tag == dep.pushed.tag:
                return dep
        local = "/" not in value.split("@", 1)[0]
        if local and (ref.tag or "").isdigit():
            return None
        release = self._component(ref)
        if release is None:
            return None
        if local or ref.locator in (release.pushed.locator, release.deployed.locator):
            return release
        return None

    def _component(self, ref: ImageRef) -> Optional[ReleaseImage]:
        """A component or alias by repository, whatever the registry and version; in flat layout the
        component is the tag's prefix, the longest name winning."""
        last = ref.name
        if last == self.project and ref.tag:
            for name in self._names_longest_first:
                if ref.tag.startswith(f"{name}-"):
                    return self.by_name[name]
        if last.startswith(self.prefix):
            return self.by_name.get(last[len(self.prefix):])
        return None

    def tag_prefix(self, release: ReleaseImage) -> str:
        """In flat layout a component's tag is ``<name>-<version>``: what stands before the version."""
        if release.kind == "component" and self.layout == "flat":
            return f"{release.name}-"
        return ""


def _locators(dep: ReleaseImage):
    """The repositories a dependency is known by: where it was mirrored, its deploy endpoint, its source."""
    return dep.pushed.locator, dep.deployed.locator, dep.source.locator


def check_pin(pin: str) -> str:
    if pin_problem(pin):
        raise UsageError(f"--pin {pin_problem(pin)}")
    return pin

