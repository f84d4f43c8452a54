"""Plan, check and write the image edits of deployment files: only the changed values' bytes change.

Every file is planned before any is written: an error anywhere (a shared
anchor needing two refs, an unresolvable variable, a missing digest, a file
that will not parse) means nothing is written at all. Each edited file is
parsed again and its image values compared with the intended ones before it
is written atomically, with its mode, line endings and BOM kept.
"""

import difflib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..compose import dotenv
from ..compose.project import Environment, check_templates, environment
from ..compose.template import TemplateError, variables
from ..errors import UsageError
from ..util import inputs, jsonfile
from .refs import ReleaseImage, ReleaseRefs
from .yamldoc import Site, find_sites, template_reason

BOM = "\ufeff"
# ``repo:${VAR:-default}``: a tag made of one variable (maybe after a flat layout's ``component-``), with a
# literal default or message (``${VAR}``, ``$VAR``, ``${VAR-v1}``, ``${VAR:?set it}`` too).
_TAG_VARIABLE = re.compile(r"(?P<before>[^$]*)\$(?:\{(?P<var>[A-Za-z_][A-Za-z0-9_]*)"
                           r"(?:(?P<op>:?[-?])(?P<default>[^${}]*))?\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))\Z")


@dataclass
class Change:
    file: Path
    line: int
    where: str
    old: str
    new: str
    status: str  # updated | unchanged | skipped: <reason> | not ours

    def row(self, root: Path) -> Tuple[str, str, str, str]:
        try:
            shown = self.file.relative_to(root)
        except ValueError:
            shown = self.file
        return f"{shown}:{self.line}", self.old, self.new if self.status == "updated" else "", self.status


@dataclass
class FilePlan:
    path: Path
    kind: str
    original: str  # as read, BOM included
    edited: str
    changes: List[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.edited != self.original

    def diff(self) -> str:
        try:
            name = self.path.relative_to(Path.cwd())
        except ValueError:
            name = self.path
        return "".join(difflib.unified_diff(self.original.splitlines(True), self.edited.splitlines(True),
                                            f"a/{name}", f"b/{name}"))


DigestLookup = Callable[[ReleaseImage], Optional[str]]


class Planner:
    """Plans the edits of every file for one release; collects errors instead of stopping at the first."""

    def __init__(self, refs: ReleaseRefs, files: List[Path], digest_for: Optional[DigestLookup] = None,
                 environ: Optional[Dict[str, str]] = None, pin_digest: bool = False):
        self.refs = refs
        self.files = files
        self.digest_for = digest_for  # confirms each ref is in the registry, with its digest; None: not verified
        self.pin_digest = pin_digest  # write ref@digest
        self.environ = dict(os.environ if environ is None else environ)
        self.errors: List[str] = []
        self.unpushed = 0  # how many of the errors are refs the registry does not hold (not the files' fault)
        self.env_updates: Dict[Path, Dict[str, str]] = {}  # .env file -> variable -> new value
        self._templated: List[tuple] = []  # (path, site, environment, new value or None) of compose values with $

    # -- the whole plan ----------------------------------------------------------------------------

    def plan(self) -> List[FilePlan]:
        texts = {path: inputs.read_text(path, "deployment file", keep_bom=True) for path in self.files}
        env_files = {path for path, text in texts.items() if _is_env_file(path, text)}
        plans = [self._plan_yaml(path, text) for path, text in texts.items() if path not in env_files]
        # .env files last: compose files may have asked for their variables to change
        plans += [self._plan_env(path, texts[path]) for path in self.files if path in env_files]
        for env_path in self.env_updates:
            if env_path not in texts:
                variables = ", ".join(f"{k}={v}" for k, v in self.env_updates[env_path].items())
                self.errors.append(f"{env_path} sets a variable the new refs need changed ({variables}); "
                                   "pass it with --file too, or change it by hand")
        self._check_shared_variables()
        return plans

    def _check_shared_variables(self) -> None:
        """A ``.env`` variable changed for this release's images must not move any other value that uses it:
        one ``IMAGE_TAG`` for every service cannot take backend alone to a new version (the others would point
        at refs that were never pushed)."""
        for path, site, env, new in self._templated:
            updates = {key: value for key, value in self.env_updates.get(env.dotenv_path, {}).items()
                       if key not in self.environ}
            if new is not None or not updates:
                continue
            moved = Environment({**env.values, **updates}, {**env.dotenv, **updates}, env.dotenv_path)
            try:
                before, after = env.resolve(site.value)[0], moved.resolve(site.value)[0]
            except TemplateError:
                continue  # reported where the value was planned
            if before != after:
                used = {name for _start, _end, name in variables(site.value)}
                names = ", ".join(f"${key}" for key in updates if key in used)
                self.errors.append(f"{path}:{site.line}: {site.where} = {site.value!r} uses {names} too, which this "
                                   f"release's images need set to {', '.join(updates.values())}: it would become "
                                   f"{after!r}, not this release's; give it a variable of its own, or release it "
                                   "in the same chain")

    # -- YAML files --------------------------------------------------------------------------------

    def _plan_yaml(self, path: Path, original: str) -> FilePlan:
        text = original[1:] if original.startswith(BOM) else original
        roots = inputs.compose_yaml(text, path, "deployment file")
        env = environment(path.parent, self.environ)
        changes, edits, kinds, found = [], [], [], []
        for root in roots:
            document = find_sites(text, root, path.name)
            if document.kind == "compose":
                check_templates(root, path)  # compose refuses the whole file; so do we, before any edit
            kinds.append(document.kind)
            found.extend(document.sites)
            for site in document.sites:
                change, new = self._plan_site(path, site, env, document.kind)
                if document.kind == "compose" and "$" in site.value:  # a .env change may move it: checked last
                    self._templated.append((path, site, env, new[0] if change and change.status == "updated"
                                            else None))
                if change is None:
                    continue
                changes.append(change)
                if change.status == "updated":
                    edits.append((site, new))
        replacements: Dict[Tuple[int, int], Tuple[str, Site]] = {}
        for site, (value, digest) in edits:
            try:
                rendered = site.render(value, digest)
            except ValueError as exc:
                self.errors.append(f"{path}:{site.line}: {exc}")
                continue
            for start, end, new in rendered:
                earlier = replacements.setdefault((start, end), (new, site))
                if earlier[0] != new:  # one node reached twice (a YAML alias), wanted two ways
                    self.errors.append(f"{path}: line {earlier[1].line} ({earlier[1].where}) and line {site.line} "
                                       f"({site.where}) share one YAML anchor but need different values; give "
                                       "each its own")
        spans = [(start, end, new) for (start, end), (new, _) in replacements.items()]
        edited = (BOM if original.startswith(BOM) else "") + _apply(text, spans)
        plan = FilePlan(path, ",".join(sorted(set(kinds))) or "empty", original, edited, changes)
        if plan.changed and not self.errors:
            self._verify(plan, found)
        return plan

    def _plan_site(self, path: Path, site: Site, env: Environment, kind: str
                   ) -> Tuple[Optional[Change], Tuple[str, Optional[str]]]:
        """What becomes of one site: a Change to report (None: not an image, not listed) and the new value."""
        def change(status: str, new: str = "") -> Change:
            return Change(path, site.line, site.where, site.value, new, status)

        nothing = ("", None)
        if site.skip:
            return (None if site.is_env_entry else change(f"skipped: {site.skip}")), nothing
        reason = template_reason(site.value)
        if reason:
            return (None if site.is_env_entry else change(f"skipped: {reason}")), nothing
        resolved, beyond_tag = site.value, ""
        if kind == "compose" and "$" in site.value:
            beyond_tag = _beyond_tag(site.value)
            if beyond_tag and site.is_env_entry:
                return None, nothing  # interpolation covers more than a tag: never an image
            try:
                resolved, missing = env.resolve(site.value)
            except TemplateError as exc:  # only a required variable can fail here: the syntax was checked
                if site.is_env_entry:
                    return None, nothing
                self.errors.append(f"{path}:{site.line}: {site.where} = {site.value!r}: {exc}")
                return change("error: unresolvable variable"), nothing
            if missing:
                if site.is_env_entry:
                    return None, nothing
                self.errors.append(f"{path}:{site.line}: {site.where} = {site.value!r} needs "
                                   f"{', '.join('$' + m for m in missing)}, which has no default and is not set")
                return change("error: unresolvable variable"), nothing
        if site.is_env_entry:
            release = self.refs.for_value(resolved)
            if release is None:
                return None, nothing
        else:
            release, why = self.refs.for_image_field(resolved)
            if release is None:
                return change(f"skipped: {why}" if why else "not ours"), nothing
        if release.left:
            return change(release.left), nothing
        if beyond_tag:
            self.errors.append(f"{path}:{site.line}: {site.where} = {site.value!r} {beyond_tag}; set-images keeps "
                               "a variable only where it is the whole tag, with a literal default "
                               "(name:${TAG:-v1}): write the rest out, or update this line by hand")
            return change("error: variables beyond the tag"), nothing
        found, digest = self._digest(f"{path}:{site.line}", release)
        if not found:
            return change("error: not in the registry"), nothing
        new = self._new_value(path, site, release, env, kind)
        if new is None:
            return change("error: variable conflict"), nothing
        shown = f"{new}@{digest}" if digest else new
        if shown == site.value:
            return change("unchanged", shown), nothing
        return change("updated", shown), (new, digest)

    def _new_value(self, path: Path, site: Site, release: ReleaseImage, env: Environment, kind: str) -> Optional[str]:
        """The new value; a compose variable that is the whole tag is kept (``${VAR:-default}``, new default)."""
        target = release.deployed
        tag_part = _split_tag(site.value) if kind == "compose" and "$" in site.value else None
        match = _TAG_VARIABLE.match(tag_part or "")
        if match is None:
            return str(target)
        prefix = self.refs.tag_prefix(release)
        version = target.tag[len(prefix):] if target.tag and target.tag.startswith(prefix) else target.tag
        if release.kind == "dependency":
            prefix, version = "", target.tag
        variable = match.group("var") or match.group("plain")
        if match.group("plain"):
            expression = f"${variable}"
        elif match.group("op") in (":-", "-"):
            expression = f"${{{variable}{match.group('op')}{version}}}"
        else:  # ${VAR}, ${VAR:?message}: no default to carry the version
            expression = f"${{{variable}{match.group('op') or ''}{match.group('default') or ''}}}"
        new = f"{target.locator}:{prefix}{expression}"
        try:
            resolved, _ = env.resolve(new)
        except TemplateError:
            resolved = None
        if resolved == str(target):
            return new
        if variable in env.dotenv and variable not in self.environ:
            self.env_updates.setdefault(env.dotenv_path, {})[variable] = version
            return new
        self.errors.append(f"{path}:{site.line}: {site.where} would resolve to {resolved!r}, not {target}, because "
                           f"${variable} is {_described(env.values.get(variable))}; unset it or set it to "
                           f"{version!r}")
        return None

    def _digest(self, where: str, release: ReleaseImage) -> Tuple[bool, Optional[str]]:
        """(True, the digest to write, or None when pinning tags); (False, None) when the ref is not in the
        registry (error noted): set-images never writes a ref that was not pushed."""
        if self.digest_for is None or not release.pushed.host:  # not verified; local names: no registry to ask
            return True, None
        digest = self.digest_for(release)
        if not digest:
            self.unpushed += 1
            if getattr(self.digest_for, "ask_registry", True):
                self.errors.append(f"{where}: {release.pushed} is not in the registry (not in the metadata file, "
                                   "the release record or the registry itself): push it first, or pass --no-verify "
                                   "to prepare files offline")
            else:
                self.errors.append(f"{where}: no digest for {release.pushed} in the metadata file (--no-verify: the "
                                   "registry is not asked); pass the --metadata-file a push wrote, or use --pin tag")
            return False, None
        return True, digest if self.pin_digest else None

    def _verify(self, plan: FilePlan, before: List[Site]) -> None:
        """Parse the edited text again: every image value must read back as intended, nothing else may move."""
        try:
            after = _sites(plan.edited, plan.path)
        except UsageError as exc:
            self.errors.append(f"{plan.path}: the edit would break the file ({exc}); nothing written")
            return
        updated = {(c.line, c.where): c.new for c in plan.changes if c.status == "updated"}
        wanted = [(site.where, updated.get((site.line, site.where), site.value)) for site in before]
        if [(site.where, site.value) for site in after] != wanted:
            self.errors.append(f"{plan.path}: the edited file does not read back as intended; nothing written")

    # -- .env files ----------------------------------------------------------------------------------

    def _plan_env(self, path: Path, original: str) -> FilePlan:
        """A ``.env`` file: read as compose reads it; a value is rewritten in place (its quotes kept) when
        it is a release image, or a variable a compose file's tag needs; only literal values are touched."""
        try:
            _values, entries = dotenv.parse(original, self.environ.get)
        except dotenv.DotenvError as exc:
            self.errors.append(f"{path}: {exc}")
            return FilePlan(path, "env", original, original, [])
        updates = dict(self.env_updates.get(path, {}))
        last = {entry.key: entry for entry in entries if entry.value is not None}  # compose: the last one counts
        changes, spans = [], []
        for entry in entries:
            raw = entry.raw(original)
            if entry.value is None or "\n" in raw or (entry.quote == '"' and "\\" in raw):
                continue
            new_value = updates.pop(entry.key, None) if last.get(entry.key) is entry else None
            if new_value is not None and "$" in raw:
                self.errors.append(f"{path}:{entry.line}: {entry.key} is built from other variables ({raw!r}); "
                                   f"set it to {new_value!r} by hand")
                continue
            if new_value is None and "$" not in raw:
                release = self.refs.for_value(entry.value)
                if release is not None and release.left:
                    changes.append(Change(path, entry.line, entry.key, raw, "", release.left))
                    continue
                if release is not None:
                    found, digest = self._digest(f"{path}:{entry.line}", release)
                    if not found:
                        continue
                    new_value = f"{release.deployed}@{digest}" if digest else str(release.deployed)
            if new_value is None:
                continue
            changes.append(Change(path, entry.line, entry.key, raw, new_value,
                                  "unchanged" if new_value == raw else "updated"))
            if new_value != raw:
                spans.append((entry.start, entry.end, new_value))
        for key, value in updates.items():
            self.errors.append(f"{path} does not set {key} in a value set-images can change (a compose tag needs "
                               f"it to be {value!r}); set it by hand")
        return FilePlan(path, "env", original, _apply(original, spans), changes)


def _sites(original: str, path: Path) -> List[Site]:
    text = original[1:] if original.startswith(BOM) else original
    return [site for root in inputs.compose_yaml(text, path, "deployment file")
            for site in find_sites(text, root, path.name).sites]


def _split_tag(value: str) -> Optional[str]:
    """The tag part of ``repo:tag`` where ``repo`` and ``tag`` may hold ``${...}``; None without a tag."""
    depth, last_colon = 0, -1
    for index, char in enumerate(value):
        if value.startswith("${", index):
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == ":" and depth == 0:
            last_colon = index
        elif char == "/" and depth == 0:
            last_colon = -1
    return value[last_colon + 1:] if last_colon >= 0 else None


def _apply(text: str, replacements) -> str:
    ordered = sorted(replacements, key=lambda r: (r[0], r[1]), reverse=True)
    previous_start = len(text) + 1
    for start, end, new in ordered:
        if end > previous_start:
            raise UsageError("two edits of one file overlap; this is a bug in set-images, please report it")
        text = text[:start] + new + text[end:]
        previous_start = start
    return text


_ENV_LINE = re.compile(r"\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=")


def _is_env_file(path: Path, text: str) -> bool:
    """``.env``, ``*.env``, or a file whose every statement is ``KEY=...`` (never YAML's ``key: value``)."""
    if path.name == ".env" or path.name.endswith(".env"):
        return True
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return bool(lines) and all(_ENV_LINE.match(line) for line in lines)


def _beyond_tag(value: str) -> str:
    """Why the variables of a compose value cover more than its tag ("" when they cover at most the tag)."""
    names = [name for _start, _end, name in variables(value)]
    if not names:
        return ""
    if "@" in value:
        return "has a variable and a digest"
    tag = _split_tag(value)
    before = value[: len(value) - len(tag) - 1] if tag is not None else value
    outside = [name for _s, _e, name in variables(before)]
    if outside:
        return f"has variables beyond the tag (${', $'.join(dict.fromkeys(outside))})"
    if tag is not None and "$" in tag and not _TAG_VARIABLE.match(tag):
        return "has a tag that is more than one variable with a literal default"
    return ""


def _described(value: Optional[str]) -> str:
    return "not set" if value is None else f"set to {value!r}"


def deployment_files(config, given: Sequence[str]) -> List[Path]:
    """``--file`` paths, else ``[deploy] files`` globs relative to build.toml; each must exist."""
    if given:
        paths = [Path(name) for name in given]
    else:
        paths = sorted({p for pattern in config.deploy_files for p in config.root.glob(pattern) if p.is_file()})
        if not paths:
            raise UsageError("no deployment files: pass --file PATH or set [deploy] files (globs) in build.toml")
        inside = config.root.resolve()
        for path in paths:  # a glob's match that leads out of the repository (a symlink) is not ours to change
            if not path.resolve().is_relative_to(inside):
                raise UsageError(f"[deploy] files: {path} leads out of {inside} (to {path.resolve()}); name it with "
                                 "--file if it is yours to rewrite")
    for path in paths:
        if not path.is_file():
            raise UsageError(f"--file {path}: no such file")
    return [path.resolve() for path in paths]


def write(plans: List[FilePlan]) -> None:
    """Write every changed file atomically, keeping its mode; all or, on a failing disk, as many as got through."""
    for plan in plans:
        if plan.changed:
            jsonfile.replace_text(plan.path, plan.edited, stat.S_IMODE(plan.path.stat().st_mode))
