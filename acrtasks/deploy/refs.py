"""Which ref an image value in a deployment file should become: components, aliases, dependencies.

An image value matches by repository, whatever its registry and tag: a
component's local name, its nested or flat registry ref at any version (in flat
layout the component is the tag's prefix, the longest name winning), a
dependency's source or its mirrored ref. Targets come from the naming code
``push`` and ``push-deps`` use, for the deploy registry.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional

from ..config import Settings
from ..errors import NamingError, UsageError
from ..naming import ImageRef, naming_for


@dataclass(frozen=True)
class Release:
    """One image of the release: what it is called, where it was pushed, and the ref deployments get."""

    kind: str  # component | dependency
    name: str  # component or alias name; a dependency's source
    pushed: ImageRef  # where push / push-deps put it (digests are looked up there)
    deployed: ImageRef  # what deployment files get (the deploy registry may be another endpoint)
    metadata_key: str  # component name, or "@deps" for dependencies


class ReleaseRefs:
    """The release's images and the matcher from any image value to one of them."""

    def __init__(self, settings: Settings, deploy_registry: Optional[str] = None):
        from ..deps import dependency_naming, dependency_sources

        config = settings.config
        self.project, self.prefix = config.project, config.image_prefix
        push_naming = settings.naming
        deploy_text = deploy_registry if deploy_registry is not None else settings.registry
        deploy_naming = (naming_for(config.project, config.image_prefix, deploy_text, settings.layout_setting,
                                    config.flat_hosts) if deploy_text else push_naming)
        self.layout = deploy_naming.layout
        self.by_name: Dict[str, Release] = {}
        for component in config.components.values():
            for name in (component.name, *component.aliases):
                self.by_name[name] = Release(
                    "component", name, push_naming.component_ref(name, settings.version),
                    deploy_naming.component_ref(name, settings.version), component.name)
        self.deps: List[Release] = []
        sources, _ = dependency_sources(config)
        deps_naming = dependency_naming(settings) if sources else None
        if deps_naming is not None:
            push_host = push_naming.registry.host if push_naming.registry else None
            deploy_host = deploy_naming.registry.host if deploy_naming.registry else None
            for dep in deps_naming.dependencies(sources, config.deps_rename):
                deployed = dep.target
                if deploy_host and deployed.host == push_host:  # same registry, the deploy endpoint
                    deployed = ImageRef(deploy_host, deployed.repository, deployed.tag)
                self.deps.append(Release("dependency", str(dep.source), dep.target, deployed, "@deps"))
        self._names_longest_first = sorted(self.by_name, key=len, reverse=True)

    def match(self, value: str) -> Optional[Release]:
        """The release image ``value`` names, or None when it is not ours (or not an image ref at all)."""
        try:
            ref = ImageRef.parse(value)
        except NamingError:
            return None
        for dep in self.deps:
            if ref.locator in (dep.pushed.locator, dep.deployed.locator, _source(dep).locator):
                return dep
        last = ref.name
        if last == self.project and ref.tag:  # flat: the component is the tag's prefix
            for name in self._names_longest_first:
                if ref.tag.startswith(f"{name}-"):
                    return self.by_name[name]
        if last.startswith(self.prefix):
            return self.by_name.get(last[len(self.prefix):])
        return None

    def tag_prefix(self, release: Release) -> str:
        """In flat layout a component's tag is ``<name>-<version>``: what stands before the version."""
        if release.kind == "component" and self.layout == "flat":
            return f"{release.name}-"
        return ""


def _source(dep: Release) -> ImageRef:
    return ImageRef.parse(dep.name)


PINS = ("tag", "digest")


def check_pin(pin: str) -> str:
    if pin not in PINS:
        raise UsageError(f"--pin {pin!r} is not one of {', '.join(PINS)}")
    return pin

