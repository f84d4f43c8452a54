"""The release: every image of one version of the product, named once.

A :class:`Release` knows each component's refs (local name, registry ref,
aliases, ``latest``) and each dependency's source and target. It is computed
once per settings (:func:`release_of`), and planning, push, push-deps, the
test-naming preview, set-images, export, import and pull all read their names
from it, as :class:`~acrtasks.naming.ImageRef` values: no stage derives a name
of its own, so they cannot disagree.

Dependencies are worked out only when a task asks for them (reading compose
files, refusing two sources that land on one target), so a build never fails
on a dependency it does not touch.
"""

from functools import cached_property
from typing import TYPE_CHECKING, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..config import Settings

from ..errors import UsageError
from ..naming import Dependency, ImageRef, Naming, naming_for

if TYPE_CHECKING:
    from ..deps import DepsPlan, Sources

NO_TARGET = ("no registry for dependencies: pass --deps-namespace host/ns, set [deps] namespace, "
             "[registry] url or ACRTASKS_REGISTRY")


# NamedTuple, not a frozen dataclass: cheaper to define on every start (see config.Component).
class ComponentImages(NamedTuple):
    """One component at the release's version: its local name, its own ref, and every ref a build gets."""

    name: str
    local: ImageRef  # <image_prefix><component>:<version>: every build is tagged with it
    ref: ImageRef  # its registry ref (flat: the one repository, the component in the tag); local without one
    labelled: Tuple[Tuple[ImageRef, str], ...]  # every ref, with its kind: local, registry, alias, ", latest"

    @property
    def refs(self) -> Tuple[ImageRef, ...]:
        """Every ref a build is tagged with: the local names first."""
        return tuple(ref for ref, _ in self.labelled)

    @property
    def registry_refs(self) -> Tuple[ImageRef, ...]:
        """The refs a push sends: the component's, its aliases', and the ``latest`` ones."""
        return tuple(ref for ref, kind in self.labelled if not kind.startswith("local"))


def component_images(naming: Naming, version: str, name: str, aliases: Sequence[str] = (),
                     tag_latest: bool = False) -> ComponentImages:
    return ComponentImages(name, naming.local_ref(name, version), naming.component_ref(name, version),
                           tuple(naming.labelled_refs(name, version, aliases, tag_latest)))


class Release:
    """Every image of ``settings.version``; ``deps_namespace`` (push-deps' flag) overrides where dependencies go."""

    def __init__(self, settings: Settings, deps_namespace: Optional[str] = None, bases: bool = False):
        self.settings = settings
        self.version = settings.version
        self.naming = settings.naming
        self.deps_namespace = deps_namespace
        self.with_bases = bases or settings.config.deps_bases  # the components' base images are dependencies
        config = settings.config
        self.components: Tuple[ComponentImages, ...] = tuple(
            component_images(self.naming, self.version, c.name, c.aliases, settings.tag_latest)
            for c in config.components.values())
        self._by_name = {images.name: images for images in self.components}
        self.resolved: Dict[str, Tuple[str, ...]] = {}  # tag rule as written -> name:tag of each tag it chose

    def component(self, name: str) -> ComponentImages:
        """A component of build.toml, or one a bundle names that build.toml does not (no aliases then)."""
        return self._by_name.get(name) or component_images(self.naming, self.version, name, (),
                                                           self.settings.tag_latest)

    def selected(self, names: Sequence[str] = ()) -> List[ComponentImages]:
        """The components to work on: ``names`` (checked, in order) or all of them."""
        return [self._by_name[c.name] for c in self.settings.components(names)]

    @cached_property
    def dependency_sources(self) -> "Sources":
        """``[deps] images``, images.txt, the compose files' images, then (``[deps] bases``) the components' base
        images, as written; the problems met reading them; the platforms an entry asked for."""
        from ..deps import component_bases, dependency_sources

        found = dependency_sources(self.settings.config)
        if not self.with_bases:
            return found
        bases = [base for images in component_bases(self.settings).values() for base in images]
        return found._replace(images=tuple(dict.fromkeys([*found.images, *bases])))

    @cached_property
    def deps_naming(self) -> Optional[Naming]:
        """Where dependencies go: ``--deps-namespace``, else ``[deps] namespace``, else the registry, with the
        configured layout applied to that target's own host. None: there is no target."""
        config = self.settings.config
        target = self.deps_namespace or config.deps_namespace or self.settings.registry
        if not target:
            return None
        return naming_for(config.project, config.image_prefix, target, self.settings.layout_setting,
                          config.flat_hosts)

    @cached_property
    def dependencies(self) -> Tuple[Dependency, ...]:
        """Every dependency with its source and target; () without sources or without a target. A tag rule
        counts as the tags :meth:`resolve_rules` found for it (none before: only push-deps asks a registry)."""
        sources = self.dependency_sources
        if not sources.images or self.deps_naming is None:
            return ()
        texts = [concrete for text in sources.images for concrete in self.concrete(text)]
        platforms = {concrete: own for text, own in sources.platforms.items() for concrete in self.concrete(text)}
        own = {self.deps_naming.dependency(text).source: found for text, found in platforms.items()}
        return tuple(dep._replace(platforms=own.get(dep.source, ()))
                     for dep in self.deps_naming.dependencies(texts, self.settings.config.deps_rename))

    def concrete(self, text: str) -> Tuple[str, ...]:
        """The images a dependency entry stands for: itself, or a tag rule's resolved tags."""
        from ..deps import rule_of

        return self.resolved.get(text, ()) if rule_of(text) is not None else (text,)

    def resolve_rules(self, list_tags: Callable[[ImageRef], List[str]]) -> List[str]:
        """Resolve every tag rule from its source's tag list (``list_tags``); one plan line per rule,
        ``postgres:~15 -> 15.10``. A UsageError when one matches nothing, or nothing it can tell apart."""
        from ..deps import rule_of

        lines = []
        for text in self.dependency_sources.images:
            rule = rule_of(text)
            if rule is None or text in self.resolved:
                continue
            name, tag_rule = rule
            source = ImageRef.parse(name)
            tags = tag_rule.pick(list_tags(source))
            self.resolved[text] = tuple(f"{name}:{tag}" for tag in tags)
            lines.append(f"{text} -> {', '.join(tags)}")
        self.__dict__.pop("dependencies", None)  # computed again with the resolved tags
        return lines

    def chosen_dependencies(self, wanted: Sequence[str] = ()) -> Tuple[Dependency, ...]:
        """The dependencies ``--dep`` names (as written or normalised), in its order; all without it."""
        if not wanted:
            return self.dependencies
        from ..deps import select

        by_source = {dep.source: dep for dep in self.dependencies}
        chosen = (by_source.get(self.require_deps_target().dependency(concrete).source)
                  for text in select(self.dependency_sources.images, wanted) for concrete in self.concrete(text))
        return tuple(dict.fromkeys(dep for dep in chosen if dep is not None))

    def require_deps_target(self) -> Naming:
        if self.deps_naming is None:
            raise UsageError(NO_TARGET)
        return self.deps_naming

    def dependency(self, source: str) -> Dependency:
        """One dependency by its source as configured (a bundle's record names it so)."""
        return self.require_deps_target().dependency(source, self.settings.config.deps_rename)


def release_of(settings: Settings) -> Release:
    """The release of ``settings``, made once per settings (every stage reads its names from the same one)."""
    made = settings.__dict__.get("_release")
    if made is None:
        made = settings.__dict__["_release"] = Release(settings)
    return made


def plan_deps(settings: Settings, deps_namespace: Optional[str], selected: Sequence[str] = (),
              bases: bool = False, list_tags: Optional[Callable[[ImageRef], List[str]]] = None) -> "DepsPlan":
    """Every dependency with its target, from the release; collisions and bad names are refused there, before
    any copy. ``bases``: the components' base images too (``--bases``; ``[deps] bases`` always). ``list_tags``:
    a source's tags, for the tag rules (without it, a rule stands for nothing)."""
    from ..deps import DepsPlan, hub_mirrors

    release = Release(settings, deps_namespace, bases) if deps_namespace or bases else release_of(settings)
    naming = release.require_deps_target()
    problems = release.dependency_sources.problems
    resolved = release.resolve_rules(list_tags) if list_tags is not None else []
    dependencies = release.chosen_dependencies(selected)
    if not dependencies:
        raise UsageError(f"no dependencies: add [deps] images or compose_files to {settings.config.path.name} (or "
                         "[deps] bases = true for the components' base images)")
    return DepsPlan(str(naming.registry), naming.layout, list(dependencies), hub_mirrors(settings.config),
                    list(problems), resolved)
