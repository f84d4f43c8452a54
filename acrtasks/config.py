"""build.toml: finding it, reading it, validating it, and applying overrides.

Everything about configuration lives here, so that a bad value is caught once,
up front, with one line naming the file, the key, its line and what is
allowed. Precedence, strongest first: task flag > environment > build.toml >
built-in default (see :func:`resolve`).
"""

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from .acr import DEFAULT_FLAT_HOSTS
from .errors import ConfigError, UsageError
from .naming import LAYOUTS, Naming, Registry, check_path_component, check_tag, naming_for
from .util import gitinfo, inputs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

CONFIG_NAME = "build.toml"
BUILTIN_MODES = ("dev", "prod")

# Each key: (type, default). ``dict`` means a table of string -> string.
_REQUIRED = object()
SCHEMA: Dict[str, Dict[str, Tuple[type, Any]]] = {
    "project": {"name": (str, _REQUIRED), "image_prefix": (str, None)},
    "registry": {"url": (str, ""), "layout": (str, "auto"), "flat_hosts": (list, list(DEFAULT_FLAT_HOSTS)),
                 "username": (str, ""), "insecure_hosts": (list, []), "attestations": (str, "auto")},
    "build": {"version": (str, ""), "mode": (str, "prod"), "tag_latest": (bool, False), "parallel": (int, 2),
              "backend": (str, "auto"), "network": (str, ""), "platforms": (list, []), "builder": (str, ""),
              "cache": (str, "none"), "sbom": (bool, False), "sbom_generator": (str, ""), "provenance": (str, ""),
              "rebuild": (bool, False), "bases_from": (str, "hub"),
              "version_from": (str, "describe")},
    "deps": {
        "namespace": (str, ""),
        "images": (list, []),
        "compose_files": (list, []),
        "rename": (dict, {}),
        "skip_existing": (bool, True),
        "mirrors": (list, []),
        "jobs": (int, 4),
        "bases": (bool, False),  # the components' FROM images are dependencies too
        "platforms": (list, []),  # mirror only these platforms of an index (push-deps, promote; a flag wins)
        "list_file": (str, ""),  # images.txt: one image per line, beside images and compose_files
        "ratelimit_floor": (int, 3),  # pulls kept in hand below a registry's stated limit (registry.ratelimit)
        "ratelimit_max_wait": (int, 1800),  # seconds a run may wait for the limit, per registry, in all
        "signatures": (bool, False),  # an image's cosign signatures (.sig, .att, .sbom) and referrers go along
    },
    "deploy": {"files": (list, []), "registry": (str, ""), "pin": (str, "tag"), "verify": (bool, True)},
    "sign": {
        "key": (str, ""),  # a cosign key file (relative to build.toml) or a KMS URI; its password: $COSIGN_PASSWORD
        "cosign": (str, ""),  # the cosign program; "" = the one on PATH
        "tlog": (bool, False),  # also upload each signature to the transparency log (Rekor): needs the internet
        "deps": (bool, False),  # sign the release's dependencies too (as `sign --deps`)
        "on_push": (bool, False),  # push signs what it pushed, as its last step (as `push --sign`)
    },
    # pull and import verify each image's signature with this public key (a file or a KMS URI) before anything
    "verify": {"key": (str, ""), "tlog": (bool, False)},  # tlog: also check the transparency log (needs the internet)
}
# Tables of named sub-tables: [modes.<name>] and [components.<name>].
MODE_SCHEMA = {"build_args": (dict, {}), "env_files": (list, None)}  # None: .env, then .env.<mode>, if present
COMPONENT_MODE_SCHEMA = {"build_args": (dict, {})}  # [components.<name>.modes.<mode>]
COMPONENT_SCHEMA = {
    "context": (str, _REQUIRED),
    "dockerfile": (str, "Dockerfile"),
    "target": (str, ""),
    "build_args": (dict, {}),
    "aliases": (list, []),
    "secrets": (dict, {}),
    "platforms": (list, []),  # this component's own [build] platforms
    "cache": (str, ""),  # this component's own [build] cache ("" = [build] cache)
    "modes": (dict, {}),  # [components.<name>.modes.<mode>] tables, checked with COMPONENT_MODE_SCHEMA
}
#: Where a build's cache lives: "none" (the builder's own only), "registry" (beside the images, see
#: Naming.cache_ref; buildx only).
CACHES = ("none", "registry")
#: How set-images writes a ref: by tag, or by digest.
PINS = ("tag", "digest")
#: Where a base image missing from the engine is pulled from before a build: "hub" (Docker Hub through [deps]
#: mirrors, build.sh's pre-pull) or "registry" (the copy push-deps made in the user's registry).
BASES_FROM = ("hub", "registry")
#: What becomes of buildx's provenance and SBOM attestations: keep, drop, or auto (see :func:`drops_attestations`).
#: ACR refuses them in their OCI-artifact form ("unknown manifest class for application/vnd.oci.empty.v1+json")
#: and stores the older form, manifests inside the image's index, which BuildKit writes with oci-artifact=false.
ATTESTATIONS = ("auto", "keep", "drop")
#: What drops_attestations answers: nothing dropped, only what the target refuses (OCI artifacts), or all.
KEEP_ALL, DROP_ARTIFACTS, DROP_ALL = "", "artifacts", "all"
#: [build] provenance: "" = the builder's default (buildx: mode=min), "min", "max", or "false" (false in TOML).
PROVENANCE = ("", "min", "max", "false")
BACKENDS = ("auto", "classic", "buildkit", "buildx")
# A build secret: its id (what RUN --mount=type=secret,id=... names) and where its value comes from.
SECRET_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}\Z")
SECRET_SOURCE = re.compile(r"(env):([A-Za-z_][A-Za-z0-9_]*)\Z|(file):(.+)\Z")
NETWORK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
PLATFORM = re.compile(r"[A-Za-z0-9_]+/[A-Za-z0-9_]+(/[A-Za-z0-9_]+)?\Z")  # no IGNORECASE: it would also take U+212A for k
_TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer", list: "a list of strings",
               dict: "a table of string values"}


# A NamedTuple, not a frozen dataclass: records read on every start are several times cheaper to define
# (bench/cli_latency.py, figures in docs/testing.md); it is as immutable, and nothing here iterates it.
class Component(NamedTuple):
    """One [components.<name>] table, validated; paths absolute."""

    name: str
    context: Path  # absolute
    dockerfile: str  # relative to context
    target: str
    build_args: Dict[str, str]
    aliases: Tuple[str, ...]
    secrets: Tuple[Tuple[str, str, str], ...] = ()  # (id, "env" | "file", variable name or absolute path)
    platforms: Tuple[str, ...] = ()  # () = [build] platforms
    cache: str = ""  # "" = [build] cache
    modes: Dict[str, Dict[str, str]] = {}  # mode -> this component's build args in that mode (win over its own)


class Config(NamedTuple):  # NamedTuple, not a frozen dataclass: see Component
    """build.toml, validated, with defaults filled in (the defaults are SCHEMA's, written once: every Config is
    made by the validator)."""

    path: Path
    project: str
    image_prefix: str
    registry: str
    layout: str
    flat_hosts: Tuple[str, ...]
    username: str
    insecure_hosts: Tuple[str, ...]
    version: str
    mode: str
    tag_latest: bool
    parallel: int
    modes: Dict[str, Dict[str, str]]  # mode -> its build args
    components: Dict[str, Component]
    deps_namespace: str
    deps_images: Tuple[str, ...]
    deps_compose_files: Tuple[str, ...]
    deps_rename: Dict[str, str]
    deps_skip_existing: bool
    deps_mirrors: Tuple[str, ...]
    deps_jobs: int
    mode_env_files: Dict[str, Tuple[str, ...]]  # mode -> [modes.<mode>] env_files, where given
    version_from: str  # gitinfo.VERSION_RULES: how the default version is derived
    deps_bases: bool  # [deps] bases: push-deps mirrors the components' FROM images too
    deps_platforms: Tuple[str, ...]  # [deps] platforms: () = every platform
    deps_list_file: str  # [deps] list_file, relative to the project root ("" = none)
    deps_ratelimit_floor: int  # [deps] ratelimit_floor: pulls kept in hand (registry.ratelimit)
    deps_ratelimit_max_wait: int  # [deps] ratelimit_max_wait: seconds of waiting for the limit, per registry
    bases_from: str  # BASES_FROM: where a base missing from the engine is pulled from before a build
    deploy_files: Tuple[str, ...]
    deploy_registry: str
    deploy_pin: str
    deploy_verify: bool  # set-images confirms every ref it writes is in the registry
    sign_key: str  # [sign]: see SCHEMA
    sign_cosign: str
    sign_tlog: bool
    sign_deps: bool
    sign_on_push: bool
    verify_key: str
    verify_tlog: bool
    deps_signatures: bool
    backend: str
    network: str
    platforms: Tuple[str, ...]
    builder: str
    cache: str
    attestations: str
    sbom: bool
    sbom_generator: str  # "" = BuildKit's own scanner (docker/buildkit-syft-scanner, from Docker Hub)
    provenance: str  # PROVENANCE
    rebuild: bool  # build every component, changed or not

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def mode_names(self) -> List[str]:
        return sorted(set(BUILTIN_MODES) | set(self.modes))


def find_config(project_dir: Optional[str] = None) -> Path:
    """``$ACRTASKS_CONFIG``, else build.toml beside the loaded tasks.py, else in the current directory."""
    explicit = os.environ.get("ACRTASKS_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"ACRTASKS_CONFIG={explicit!r}: no such file")
        return path.resolve()
    base = Path(project_dir) if project_dir else Path.cwd()
    path = base / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(
            f"no {CONFIG_NAME} in {base}: create one (see README, 'build.toml reference') "
            "or point ACRTASKS_CONFIG at it"
        )
    return path.resolve()


def load_config(path: Path) -> Config:
    """Read and validate ``path``; raise :class:`ConfigError` with one line on the first problem."""
    text = inputs.read_text(path, "build.toml", ConfigError, limit=1 << 20)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _Validator(path, text).config(data)


class _Validator:
    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def fail(self, dotted: str, message: str) -> "ConfigError":
        line = _line_of(self.lines, dotted)
        where = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(f"{where}: {dotted}: {message}")

    def table(self, data: Any, dotted: str, schema: Mapping[str, Tuple[type, Any]]) -> Dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(dotted, "must be a table")
        for key in data:
            if key not in schema:
                raise self.fail(f"{dotted}.{key}", f"unknown key; allowed in [{dotted}]: {', '.join(schema)}")
        out = {}
        for key, (kind, default) in schema.items():
            name = f"{dotted}.{key}"
            if key not in data:
                if default is _REQUIRED:
                    raise self.fail(dotted, f"missing required key {key!r}")
                out[key] = default
                continue
            out[key] = self.value(data[key], name, kind)
        return out

    def value(self, value: Any, name: str, kind: type) -> Any:
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if ok and kind is list:
            ok = all(isinstance(item, str) for item in value)
        if ok and kind is dict:
            ok = all(isinstance(item, str) for item in value.values())
        if not ok:
            raise self.fail(name, f"must be {_TYPE_NAMES[kind]}, got {value!r}")
        return value

    def config(self, data: Dict[str, Any]) -> Config:
        allowed = [*SCHEMA, "modes", "components"]
        for key in data:
            if key not in allowed:
                raise self.fail(key, f"unknown table; allowed: {', '.join(allowed)}")
        build_table = data.get("build")
        if isinstance(build_table, dict) and isinstance(build_table.get("provenance"), bool):  # TOML's false
            data = {**data, "build": {**build_table, "provenance": "min" if build_table["provenance"] else "false"}}
        sections = {name: self.table(data.get(name, {}), name, schema) for name, schema in SCHEMA.items()}
        project, registry, build, deps, deploy = (sections[k] for k in ("project", "registry", "build", "deps",
                                                                         "deploy"))

        modes, mode_env_files = self.modes(data)
        mode_names = sorted(set(BUILTIN_MODES) | set(modes))
        components = {name: self.component(name, table, mode_names)
                      for name, table in self.named_tables(data, "components").items()}

        for key, problem in (("registry.attestations", one_of(registry["attestations"], ATTESTATIONS)),
                             ("registry.layout", layout_problem(registry["layout"])),
                             ("build.backend", backend_problem(build["backend"])),
                             ("build.network", network_problem(build["network"])),
                             ("build.cache", one_of(build["cache"], CACHES)),
                             ("build.provenance", one_of(build["provenance"], PROVENANCE[1:])
                              if build["provenance"] else ""),
                             *(("build.platforms", platform_problem(p)) for p in build["platforms"]),
                             *(("deps.platforms", platform_problem(p)) for p in deps["platforms"]),
                             ("deploy.pin", pin_problem(deploy["pin"])),
                             ("build.bases_from", one_of(build["bases_from"], BASES_FROM)),
                             ("build.version_from", one_of(build["version_from"], gitinfo.VERSION_RULES))):
            if problem:
                raise self.fail(key, problem)
        if build["parallel"] < 1:
            raise self.fail("build.parallel", f"must be at least 1, got {build['parallel']}")
        if deps["jobs"] < 1:
            raise self.fail("deps.jobs", f"must be at least 1, got {deps['jobs']}")
        for key in ("ratelimit_floor", "ratelimit_max_wait"):
            if deps[key] < 0:
                raise self.fail(f"deps.{key}", f"must be 0 or more, got {deps[key]}")
        image_prefix = project["image_prefix"]
        if image_prefix is None:  # the default, written once: "<name>-" (an explicit "" is no prefix)
            image_prefix = project["name"] + "-"
        if deploy["registry"]:
            self.check(lambda: naming_for(project["name"], image_prefix, deploy["registry"], registry["layout"],
                                          registry["flat_hosts"]), "deploy.registry")
        if build["mode"] not in mode_names:
            raise self.fail("build.mode", f"unknown mode {build['mode']!r}; known: {', '.join(mode_names)}")
        if build["version"]:
            self.check(lambda: check_tag(build["version"], "version"), "build.version")
        # Naming errors (bad registry, bad project name) surface here with the key that caused them.
        self.check(lambda: naming_for(project["name"], image_prefix, "", registry["layout"]), "project")
        if registry["url"]:
            self.check(
                lambda: naming_for(project["name"], image_prefix, registry["url"], registry["layout"],
                                   registry["flat_hosts"]),
                "registry.url",
            )
        return Config(
            path=self.path,
            project=project["name"],
            image_prefix=image_prefix,
            registry=registry["url"],
            layout=registry["layout"],
            flat_hosts=tuple(registry["flat_hosts"]),
            username=registry["username"],
            insecure_hosts=tuple(registry["insecure_hosts"]),
            version=build["version"],
            mode=build["mode"],
            tag_latest=build["tag_latest"],
            parallel=build["parallel"],
            modes=modes,
            mode_env_files=mode_env_files,
            version_from=build["version_from"],
            deps_bases=deps["bases"],
            bases_from=build["bases_from"],
            components=components,
            deps_namespace=deps["namespace"],
            deps_images=tuple(deps["images"]),
            deps_compose_files=tuple(deps["compose_files"]),
            deps_rename=dict(deps["rename"]),
            deps_skip_existing=deps["skip_existing"],
            deps_mirrors=tuple(deps["mirrors"]),
            deps_jobs=deps["jobs"],
            deps_platforms=tuple(deps["platforms"]),
            deps_list_file=deps["list_file"],
            deps_ratelimit_floor=deps["ratelimit_floor"],
            deps_ratelimit_max_wait=deps["ratelimit_max_wait"],
            deploy_files=tuple(deploy["files"]),
            deploy_registry=deploy["registry"],
            deploy_pin=deploy["pin"],
            deploy_verify=deploy["verify"],
            sign_key=sections["sign"]["key"],
            sign_cosign=sections["sign"]["cosign"],
            sign_tlog=sections["sign"]["tlog"],
            sign_deps=sections["sign"]["deps"],
            sign_on_push=sections["sign"]["on_push"],
            verify_key=sections["verify"]["key"],
            verify_tlog=sections["verify"]["tlog"],
            deps_signatures=deps["signatures"],
            backend=build["backend"],
            network=build["network"],
            platforms=tuple(build["platforms"]),
            builder=build["builder"],
            cache=build["cache"],
            attestations=registry["attestations"],
            sbom=build["sbom"],
            sbom_generator=build["sbom_generator"],
            provenance=build["provenance"],
            rebuild=build["rebuild"],
        )

    def modes(self, data: Dict[str, Any]) -> Tuple[Dict[str, Dict[str, str]], Dict[str, Tuple[str, ...]]]:
        """[modes.<name>]: each mode's build args, and its env files where it names them."""
        modes, mode_env_files = {}, {}
        for name, table in self.named_tables(data, "modes").items():
            values = self.table(table, f"modes.{name}", MODE_SCHEMA)
            modes[name] = dict(values["build_args"])
            if values["env_files"] is not None:
                mode_env_files[name] = tuple(values["env_files"])
        return modes, mode_env_files

    def component(self, name: str, table: Any, mode_names: Sequence[str]) -> "Component":
        """[components.<name>], with its modes, aliases, secrets, platforms and cache checked."""
        self.check(lambda: check_path_component(name, "component name"), f"components.{name}")
        if name == "release":  # flat layout: its tags (release-<version>) would be the release records'
            raise self.fail(f"components.{name}", "the component name 'release' is reserved (flat layout tags "
                            "release-<version> are release records); rename the component")
        # "modes" holds tables, not strings: checked below, table by table (COMPONENT_MODE_SCHEMA)
        values = self.table({**table, "modes": {}} if isinstance(table, dict) else table, f"components.{name}",
                            COMPONENT_SCHEMA)
        component_modes = {}
        for mode, mode_table in self.named_tables(table, "modes", f"components.{name}.modes").items():
            where = f"components.{name}.modes.{mode}"
            if mode not in mode_names:
                raise self.fail(where, f"unknown mode {mode!r}; known: {', '.join(mode_names)}")
            component_modes[mode] = dict(self.table(mode_table, where, COMPONENT_MODE_SCHEMA)["build_args"])
        for alias in values["aliases"]:
            self.check(lambda: check_path_component(alias, "alias"), f"components.{name}.aliases")
        for platform in values["platforms"]:
            if platform_problem(platform):
                raise self.fail(f"components.{name}.platforms", platform_problem(platform))
        if values["cache"] and one_of(values["cache"], CACHES):
            raise self.fail(f"components.{name}.cache", one_of(values["cache"], CACHES))
        return Component(
            name=name,
            context=(self.path.parent / values["context"]).resolve(),
            dockerfile=values["dockerfile"],
            target=values["target"],
            build_args=dict(values["build_args"]),
            aliases=tuple(values["aliases"]),
            secrets=self.secrets(name, values["secrets"]),
            platforms=tuple(values["platforms"]),
            cache=values["cache"],
            modes=component_modes,
        )

    def secrets(self, component: str, secrets: Dict[str, str]) -> Tuple[Tuple[str, str, str], ...]:
        """[components.<name>] secrets: (id, "env" | "file", the variable or the absolute path)."""
        found = []
        for secret_id, source in secrets.items():
            where = f"components.{component}.secrets.{secret_id}"
            if not SECRET_ID.match(secret_id):
                raise self.fail(where, "a secret id is letters, digits, '_', '.' or '-'")
            match = SECRET_SOURCE.match(source)
            if not match:
                raise self.fail(where, f"{source!r} is not env:VARIABLE or file:PATH")
            if match.group(1):
                found.append((secret_id, "env", match.group(2)))
            else:  # ~ and paths relative to build.toml, as for contexts
                path = Path(os.path.expanduser(match.group(4)))
                found.append((secret_id, "file", str((self.path.parent / path).resolve())))
        return tuple(found)

    def named_tables(self, data: Dict[str, Any], key: str, dotted: str = "") -> Dict[str, Any]:
        tables = data.get(key, {}) if isinstance(data, dict) else {}
        if not isinstance(tables, dict):
            raise self.fail(dotted or key, f"must be a table of [{dotted or key}.<name>] tables")
        return tables

    def check(self, func, dotted: str) -> None:
        try:
            func()
        except UsageError as exc:
            raise self.fail(dotted, str(exc)) from None


def _line_of(lines: Sequence[str], dotted: str) -> Optional[int]:
    """Best-effort line number of ``dotted`` (tomllib reports lines for syntax errors only)."""
    *tables, key = dotted.split(".")
    header = ".".join(tables)
    current = ""
    header_line = None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        match = re.match(r"\[\s*([^\]]+?)\s*\]", stripped)
        if match:
            current = re.sub(r"\s*\.\s*", ".", match.group(1)).replace('"', "")
            if current == dotted:
                return number
            if current == header:
                header_line = number
            continue
        if current == header and re.match(rf'"?{re.escape(key)}"?\s*=', stripped):
            return number
    return header_line


def component_names(selected: Sequence[str], known: Sequence[str]) -> List[str]:
    """``--component`` values as names, in order, once each: ``a,b`` as build.sh's ``--service a,b``, and repeated
    flags alike; [] when none was given."""
    names = list(dict.fromkeys(name.strip() for given in selected for name in given.split(",") if name.strip()))
    if selected and not names:
        raise UsageError(f"--component {selected[0]!r} names no component; known: {', '.join(known)}")
    return names


@dataclass(frozen=True)
class Settings:
    """The effective values for one task run: build.toml with environment and flags applied."""

    config: Config
    registry: str
    version: str
    mode: str
    layout: str  # resolved for the registry: flat | nested | local
    layout_setting: str  # as configured: auto | flat | nested (push-deps applies it to its own target)
    tag_latest: bool
    parallel: int
    naming: Naming
    warnings: Tuple[str, ...] = ()  # said once on stderr by the task
    shared_version: bool = False  # the version may name other builds too (version_from = "branch-or-tag")

    def components(self, selected: Sequence[str] = ()) -> List:
        """The components to work on: ``selected`` (validated, in order) or all of them."""
        known = self.config.components
        if not known:
            raise ConfigError(f"{self.config.path}: no [components.<name>] tables; nothing to build")
        names = component_names(selected, known) or list(known)
        for name in names:
            if name not in known:
                raise UsageError(f"unknown component {name!r}; known: {', '.join(known)}")
        return [known[name] for name in names]

    def build_args(self, component: Component, environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        """The component's build args in this mode, placeholders expanded (see :meth:`build_args_from`)."""
        return {name: value for name, (value, _) in self.build_args_from(component, environ).items()}

    def build_args_from(self, component: Component, environ: Optional[Mapping[str, str]] = None
                        ) -> Dict[str, Tuple[str, str]]:
        """Each build arg with where it came from: ``[modes.<mode>]``, then ``[components.<name>]``, then
        ``[components.<name>.modes.<mode>]`` (each winning over the one before); a ``{env:NAME}`` in it reads
        :meth:`variables` and says which file (or the environment) gave NAME."""
        variables = self.variables(environ)
        return {name: self._expand(value, name, component, variables, where)
                for name, (value, where) in self.written_build_args(component).items()}

    def written_build_args(self, component: Component) -> Dict[str, Tuple[str, str]]:
        """Each build arg as build.toml writes it for this mode (placeholders unexpanded), with its table."""
        layers = ((self.config.modes.get(self.mode, {}), f"[modes.{self.mode}]"),
                  (component.build_args, f"[components.{component.name}]"),
                  (component.modes.get(self.mode, {}), f"[components.{component.name}.modes.{self.mode}]"))
        return {name: (value, where) for args, where in layers for name, value in args.items()}

    def variables(self, environ: Optional[Mapping[str, str]] = None) -> Dict[str, Tuple[str, str]]:
        """What ``{env:NAME}`` reads, each value with its source: the mode's env files beside build.toml (read by
        compose's ``.env`` rules; a later file wins), and the process environment over them, as compose does."""
        if environ is None:
            if "_variables" not in self.__dict__:  # read once per settings (cached_property cannot take args)
                self.__dict__["_variables"] = self.variables(os.environ)
            return self.__dict__["_variables"]
        from .compose import dotenv
        from .util import inputs

        given = self.config.mode_env_files.get(self.mode)
        names = given if given is not None else (".env", f".env.{self.mode}")
        found: Dict[str, Tuple[str, str]] = {}
        for name in names:
            path = self.config.root / name
            if not path.is_file():
                if given is None:
                    continue  # the default files are optional, as compose's .env is
                raise ConfigError(f"{self.config.path}: modes.{self.mode}.env_files: {path} does not exist")
            text = inputs.read_text(path, "env file", ConfigError)
            try:
                values, _ = dotenv.parse(text, lambda key: environ.get(key, found.get(key, (None,))[0]))
            except dotenv.DotenvError as exc:
                raise ConfigError(f"{path}: {exc}") from None
            found.update((key, (value, name)) for key, value in values.items())
        found.update((key, (value, "the environment")) for key, value in environ.items())
        return found

    def _expand(self, value: str, arg: str, component: Component, variables: Mapping[str, Tuple[str, str]],
                where: str) -> Tuple[str, str]:
        read = []

        def replace(match: "re.Match[str]") -> str:
            key = match.group(1)
            if key == "version":
                return self.version
            if key == "mode":
                return self.mode
            env = _ENV_PLACEHOLDER.match(key)
            if env:  # {env:NAME}, {env:NAME:-default} (unset or empty), {env:NAME-default} (unset), as compose
                name, operator, default = env.groups()
                found = variables.get(name)
                if found is not None and not (operator == ":-" and found[0] == ""):
                    read.append(f"${name} from {found[1]}")
                    return found[0]
                if operator:
                    return default
                raise UsageError(
                    f"build arg {arg} of component {component.name!r} uses {{env:{name}}} but ${name} is not set "
                    f"(in the environment or the mode's env files; {{env:{name}:-default}} gives a default)")
            raise ConfigError(
                f"{self.config.path}: build arg {arg} of {component.name!r}: unknown placeholder {{{key}}}; "
                "use {version}, {mode}, {env:NAME} or {env:NAME:-default}"
            )

        expanded = re.sub(r"\{([^{}]*)\}", replace, value)
        return expanded, "; ".join([where, *read])


_ENV_PLACEHOLDER = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)(.*))?\Z", re.S)


# One check per value, for its build.toml key, its flag and its environment variable alike: each says why a
# value is wrong ("" when it is right), and the caller names where the value came from.

def one_of(value: str, choices: Sequence[str]) -> str:
    return "" if value in choices else f"{value!r} is not one of {', '.join(choices)}"


def platform_problem(value: str) -> str:
    return "" if PLATFORM.match(value) else f"{value!r} is not os/arch[/variant] (e.g. linux/amd64, linux/arm64/v8)"


def layout_problem(value: str) -> str:
    return one_of(value, LAYOUTS)


def pin_problem(value: str) -> str:
    return one_of(value, PINS)


def backend_problem(name: str) -> str:
    """Why ``name`` is no build backend ("" when it is one): the one check for the key and the flag."""
    return one_of(name, BACKENDS)


def network_problem(name: str) -> str:
    """Why ``name`` is no network for RUN steps ("" = the engine's default, or a valid name)."""
    if not name or NETWORK.match(name):
        return ""
    return f"{name!r} is not a network name (default, host, none or an engine network)"


def drops_attestations(config: Config, host: str, flag: Optional[str] = None) -> str:
    """What images bound for ``host`` leave out of their attestations: ``--attestations``, else
    ``[registry] attestations``. ``keep``: nothing; ``drop``: all of them (:data:`DROP_ALL`); ``auto``: on the
    flat hosts (ACR), only those in the OCI-artifact form, which ACR refuses (:data:`DROP_ARTIFACTS`); builds
    there write the form ACR stores (:func:`attestation_form`), so theirs are kept."""
    choice = flag or config.attestations
    if choice == "drop":
        return DROP_ALL
    if choice == "auto" and _refuses_artifacts(config, host):
        return DROP_ARTIFACTS
    return KEEP_ALL


def attestation_form(config: Config, host: str) -> str:
    """The form a build's attestations take for ``host``: ``index`` (manifests inside the image's index,
    BuildKit's ``oci-artifact=false``) on the flat hosts, which refuse the OCI-artifact form; elsewhere ""
    (the builder's default)."""
    return "index" if _refuses_artifacts(config, host) else ""


def _refuses_artifacts(config: Config, host: str) -> bool:
    """ACR (a flat host) refuses OCI artifacts: what both decisions above rest on."""
    return bool(host) and Registry(host).is_flat_host(config.flat_hosts)


def check_attestations(value: Optional[str]) -> None:
    """``--attestations`` is auto, keep or drop (or not given), or a UsageError."""
    if value is not None and one_of(value, ATTESTATIONS):
        raise UsageError(f"--attestations {one_of(value, ATTESTATIONS)}")


def check_platforms(platforms: Sequence[str], what: str = "--platform") -> None:
    """Each of ``platforms`` is os/arch[/variant], or a UsageError naming the bad one."""
    for platform in platforms:
        if platform_problem(platform):
            raise UsageError(f"{what} {platform_problem(platform)}")


def positive_int(value, what: str) -> int:
    """``value`` (a flag's text or a number) as a whole number >= 1, or a UsageError naming ``what``."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise UsageError(f"{what} must be a whole number of at least 1, got {value!r}")
    return number


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value if value else None


def resolve(
    config: Config,
    registry: Optional[str] = None,
    version: Optional[str] = None,
    mode: Optional[str] = None,
    layout: Optional[str] = None,
    tag_latest: Optional[bool] = None,
    parallel: Optional[int] = None,
) -> Settings:
    """Apply flags (arguments here; None = not given) and ``ACRTASKS_*`` environment to ``config``."""

    def pick(flag, env_name, file_value):
        if flag is not None:
            return flag, "flag"
        env_value = _env(env_name)
        if env_value is not None:
            return env_value, f"${env_name}"
        return file_value, str(config.path.name)

    registry_value, _ = pick(registry, "ACRTASKS_REGISTRY", config.registry)
    mode_value, mode_from = pick(mode, "ACRTASKS_MODE", config.mode)
    if mode_value not in config.mode_names:
        raise UsageError(f"mode {mode_value!r} (from {mode_from}) is unknown; known: {', '.join(config.mode_names)}")
    layout_value, layout_from = pick(layout, "ACRTASKS_LAYOUT", config.layout)
    if layout_problem(layout_value):
        raise UsageError(f"layout (from {layout_from}): {layout_problem(layout_value)}")
    parallel_value, parallel_from = pick(parallel, "ACRTASKS_PARALLEL", config.parallel)
    parallel_value = positive_int(parallel_value, f"parallel (from {parallel_from})")
    version_value, version_from = pick(version, "ACRTASKS_VERSION", config.version or None)
    warnings = []
    if version_value is None:
        derive = gitinfo.derive_version if config.version_from == "describe" else gitinfo.branch_or_tag_version
        (version_value, warning), version_from = derive(config.root), "git"
        warnings += [warning] if warning else []
    check_tag(version_value, f"version (from {version_from})")
    naming = naming_for(config.project, config.image_prefix, registry_value, layout_value, config.flat_hosts)
    return Settings(
        config=config,
        registry=registry_value,
        version=version_value,
        mode=mode_value,
        layout=naming.layout,
        layout_setting=layout_value,
        tag_latest=config.tag_latest if tag_latest is None else tag_latest,
        parallel=parallel_value,
        naming=naming,
        warnings=tuple(warnings),
        # build.sh's rule names every commit of a branch alike: a push must not overwrite another build's tag
        shared_version=version_from == "git" and config.version_from == "branch-or-tag",
    )
