"""One-line breakages of documented behaviour, each run against the tests that should catch it.

Mutation testing (mutmut, ``scripts/mutation.sh``) covers the pure modules;
this covers the I/O paths it cannot reach: every flag, key and variable the
README documents, broken on purpose, one at a time, in the real source tree,
restored afterwards. A breakage the tests miss is printed as SURVIVED.

Needs root (the tests start their own dockerd) and a clean ``acrtasks/``.
Exits 1 when fewer than 90% are caught. Usage:
    .venv/bin/python scripts/breakages.py [NAME-SUBSTRING ...]
"""

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.90
FLAGS = "tests/integration/test_documented_flags.py"
FAULTS = "tests/integration/test_faults.py"
HOSTILE = "tests/integration/test_hostile_input.py"
OUTPUT = "tests/integration/test_output.py"
BUILD_PUSH = "tests/integration/test_build_push.py"
DEPS = "tests/integration/test_push_deps.py"
LOGIN = "tests/integration/test_login.py"
SET_IMAGES = "tests/integration/test_set_images.py"
BUNDLE = "tests/integration/test_bundle.py"
BACKENDS = "tests/integration/test_build_backends.py"
PUSHES = "tests/integration/test_push_parallel.py"
CORPUS = "tests/unit/test_set_images_corpus.py"
PROPERTY = "tests/unit/test_set_images_property.py"
COMPOSE = "tests/unit/test_compose.py"
NAMING = "tests/unit/test_naming.py"
BUILDX = "tests/integration/test_buildx.py"
RELEASES = "tests/integration/test_releases.py"
PARTIAL = "tests/integration/test_partial_release.py"
CHAIN = "tests/unit/test_chain.py"

# (what the README promises, file, the line as it is, the line broken, the tests that should notice)
BREAKAGES = [
    ("--parallel honoured", "acrtasks/build/builder.py", "return run_jobs(build_one, steps, parallel,",
     "return run_jobs(build_one, steps, 1,", [FLAGS, "-k", "parallel"]),
    ("ACRTASKS_PARALLEL honoured", "acrtasks/config.py", 'pick(parallel, "ACRTASKS_PARALLEL", config.parallel)',
     'pick(parallel, "ACRTASKS_PARALLEL_OFF", config.parallel)', [FLAGS, "-k", "parallel"]),
    ("--no-cache honoured (classic)", "acrtasks/build/engine.py", "nocache=no_cache,", "nocache=False,",
     [FLAGS, "-k", "no_cache"]),
    ("--no-cache honoured (BuildKit)", "acrtasks/build/backends/cli.py", '        flags.append("--no-cache")',
     "        pass", [FLAGS, "-k", "no_cache"]),
    ("--jobs honoured", "acrtasks/delivery/mirrorer.py", "run_jobs(self.mirror_one, deps, jobs,",
     "run_jobs(self.mirror_one, deps, 1,", [FLAGS, "-k", "jobs"]),
    ("--force re-uploads", "acrtasks/copy/copier.py", "if not force and target.reuse_blob(digest, size, source):",
     "if target.reuse_blob(digest, size, source):", [FLAGS, "-k", "force"]),
    ("[deps] skip_existing honoured", "acrtasks/tasks/deps.py", "else settings.config.deps_skip_existing",
     "else True", [FLAGS, "-k", "skip_existing"]),
    ("--skip-existing overrides the key", "acrtasks/tasks/deps.py", "skip = True if skip_existing else",
     "skip = settings.config.deps_skip_existing if skip_existing else", [FLAGS, "-k", "skip_existing"]),
    ("[deps] mirrors honoured", "acrtasks/deps.py", "(config.deps_mirrors or daemon_mirrors())",
     "(daemon_mirrors())", [FLAGS, "-k", "mirrors"]),
    ("daemon.json registry-mirrors honoured", "acrtasks/deps.py", "(config.deps_mirrors or daemon_mirrors())",
     "(config.deps_mirrors)", [DEPS, "-k", "mirrors"]),
    ("--platform filters", "acrtasks/copy/copier.py", "    if platforms:\n        chosen",
     "    if False:\n        chosen", [FLAGS, "-k", "platform"]),
    ("ACRTASKS_LAYOUT honoured", "acrtasks/config.py", 'pick(layout, "ACRTASKS_LAYOUT", config.layout)',
     'pick(layout, "ACRTASKS_LAYOUT_OFF", config.layout)', [FLAGS, "-k", "layout"]),
    ("ACRTASKS_USERNAME honoured", "acrtasks/tasks/account.py",
     'username or os.environ.get("ACRTASKS_USERNAME") or config.username', "username or config.username",
     [FLAGS, "-k", "username"]),
    ("plain HTTP only for loopback and insecure_hosts", "acrtasks/registry/client.py",
     "self.plain_http_allowed = is_loopback_host(host) or host in set(insecure_hosts)",
     "self.plain_http_allowed = True", ["tests/unit/test_registry_logic.py", "-k", "plain_http"]),
    ("digest checked after the copy", "acrtasks/copy/copier.py",
     "if pushed != top.digest or after != top.digest:", "if False:", [FLAGS, "-k", "another_digest"]),
    ("manifest bytes checked against Docker-Content-Digest", "acrtasks/copy/manifests.py",
     "if expected_digest and is_digest(expected_digest) and digest != expected_digest:", "if False:",
     [FAULTS, "-k", "wrong_digest"]),
    ("manifests bounded at 4 MiB", "acrtasks/copy/remote.py", "raw = read_bounded(response, MAX_MANIFEST)",
     "raw = response.content", [FAULTS, "-k", "huge or endless"]),
    ("a broken source is named as the culprit", "acrtasks/copy/copier.py",
     "if stream.error is not None:  # the source broke off", "if False:  # the source broke off", [FAULTS, "-k", "reset or stall"]),
    ("Ctrl-C cancels upload sessions", "acrtasks/delivery/mirrorer.py", "on_interrupt=self.sessions.cancel_all",
     "on_interrupt=None", [FAULTS, "-k", "ctrl_c"]),
    ("Ctrl-C does not wait for stuck builds", "acrtasks/util/jobs.py", "daemon=True).start()",
     "daemon=False).start()", [OUTPUT, "-k", "stuck_build"]),
    ("Ctrl-C is exit 130", "acrtasks/errors.py", "    exit_code = 130", "    exit_code = 1",
     [FAULTS, "-k", "ctrl_c"]),
    ("config.json written under a lock", "acrtasks/registry/credentials.py",
     "with jsonfile.locked(self.path):  # concurrent", "with open(os.devnull):  # concurrent",
     [HOSTILE, "-k", "concurrent"]),
    ("the metadata file merged under a lock", "acrtasks/util/metadata.py", "    with jsonfile.locked(path):",
     "    if True:", ["tests/unit/test_inputs.py", "-k", "concurrent"]),
    ("--metadata-file checked before any build", "acrtasks/util/metadata.py",
     '        jsonfile.check_creatable(path, "--metadata-file")', "        pass", [HOSTILE, "-k", "uncreatable"]),
    ("YAML alias bombs refused", "acrtasks/util/inputs.py", "    if too_big:", "    if False:",
     [HOSTILE, "-k", "compose"]),
    ("credential helper output checked", "acrtasks/registry/credentials.py", "        reply = json.loads(text)",
     "        return Credentials('', text)", [HOSTILE, "-k", "helper"]),
    ("push checks every image exists first", "acrtasks/build/pusher.py", "    if missing:", "    if False:",
     [BUILD_PUSH, "-k", "preflight"]),
    ("--component selects", "acrtasks/tasks/build.py", "steps = plan.plan_builds(settings, component or (),",
     "steps = plan.plan_builds(settings, (),", [BUILD_PUSH, "-k", "chained or one_with"]),
    ("--tag-latest tags latest", "acrtasks/tasks/build.py",
     "tag_latest=tag_latest or None, parallel=parallel)", "tag_latest=None, parallel=parallel)",
     [BUILD_PUSH, "-k", "latest"]),
    ("--metadata-file written", "acrtasks/tasks/common.py",
     "    print_summary(results, console)\n    record.merge(",
     "    print_summary(results, console)\n    (lambda _: None)(", [BUILD_PUSH, "-k", "metadata"]),
    ("--dry builds nothing", "acrtasks/tasks/build.py",
     "decided.items()}):\n        console.say(line)\n    if is_dry(c):\n        return dry_footer(run)\n",
     "decided.items()}):\n        console.say(line)\n", [BUILD_PUSH, "-k", "dry"]),
    ("mode build args reach the build", "acrtasks/config.py",
     "merged = {**self.config.modes.get(self.mode, {}), **component.build_args}",
     "merged = dict(component.build_args)", [BUILD_PUSH, "tests/unit/test_config.py", "tests/unit/test_plan.py"]),
    ("secret-looking build args masked", "acrtasks/build/plan.py", "(MASK if is_secret_name(name) else value)",
     "(value)", [BUILD_PUSH, "tests/unit/test_plan.py"]),
    ("transient failures retried", "acrtasks/util/retry.py", "TRIES = 3", "TRIES = 1",
     ["tests/integration/test_registry_client.py"]),
    ("certs.d trust", "acrtasks/registry/client.py",
     'certs = sorted(directory.glob("*.crt")) if directory.is_dir() else []', "certs = []",
     [LOGIN, "-k", "tls"]),
    ("login verifies with the registry", "acrtasks/registry/login.py", "    client.check_login()", "    pass",
     [LOGIN, "-k", "wrong_password"]),
    ("config.json mode 0600", "acrtasks/registry/credentials.py", "self.path, data, 0o600,",
     "self.path, data, 0o644,", [LOGIN, "-k", "0600"]),
    ("--deps-namespace honoured", "acrtasks/release.py",
     "target = self.deps_namespace or config.deps_namespace or self.settings.registry",
     "target = config.deps_namespace or self.settings.registry", [DEPS, "-k", "plain_target"]),
    ("--dep selects", "acrtasks/release.py", "for text in select(self.dependency_sources[0], wanted))",
     "for text in select(self.dependency_sources[0], ()))", [DEPS, "-k", "forced or platform_filter_and"]),
    ("--source engine honoured", "acrtasks/delivery/mirrorer.py", '        if self.source == "engine":\n            result',
     '        if False:\n            result', [DEPS, "-k", "engine_source"]),
    ("identity tokens used", "acrtasks/registry/client.py", "if credentials and credentials.identity_token:",
     "if False:", [DEPS, "-k", "identity"]),
    ("HTTPS_PROXY/NO_PROXY honoured", "acrtasks/registry/transport.py",
     "proxy = proxies_for(url).get(urlsplit(url).scheme)", "proxy = None", [FLAGS, "-k", "proxy"]),
    ("--progress quiet hides the log", "acrtasks/build/builder.py",
     'show_logs = progress == "plain" or (progress == "auto" and not console.is_tty)', "show_logs = True",
     [OUTPUT, "-k", "quiet"]),
    ("plain progress lines off a terminal", "acrtasks/util/console.py",
     'self.console.say(f"{self.verb} {name}: started")', "pass", [OUTPUT, "-k", "plain_progress"]),
    ("tables never cut a value", "acrtasks/util/console.py",
     "cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]",
     "cells = [[str(c) for c in headers]] + [[str(c)[:72] for c in row] for row in rows]",
     ["tests/unit/test_cli.py", "-k", "piped"]),
    ("--dry ends with its line", "acrtasks/tasks/common.py", "lambda text: atexit.register(print, text))",
     "lambda text: None)", ["tests/unit/test_cli.py", "-k", "dry_run"]),
    ("an unshared chain is warned about", "acrtasks/tasks/common.py",
     "run.once(unshared_chain_warning(sys.argv, ns.task_names, run.chained), Console().warn)", "pass",
     ["tests/unit/test_cli.py", "-k", "chain_executor"]),
    ("set-images keeps each value's quoting", "acrtasks/deploy/yamldoc.py",
     "    if style == '\"' or not plain_is_safe(value, node.value):", "    if True:",
     [SET_IMAGES, "-k", "only_the_image_bytes"]),
    ("set-images keeps compose interpolation", "acrtasks/deploy/rewrite.py",
     'tag_part = _split_tag(site.value) if kind == "compose" and "$" in site.value else None', "tag_part = None",
     [SET_IMAGES, "-k", "only_the_image_bytes or resolves"]),
    ("set-images: other values are images only when unambiguous", "acrtasks/deploy/rewrite.py",
     "            release = self.refs.for_value(resolved)", "            release = self.refs.for_image_field(resolved)[0]",
     [CORPUS]),
    ("set-images: a local name with a port-like tag is a host:port", "acrtasks/deploy/refs.py",
     '        if local and (ref.tag or "").isdigit():', "        if False:", [CORPUS, PROPERTY]),
    ("set-images: a dependency in a value needs its own tag", "acrtasks/deploy/refs.py",
     "if ref.locator in _locators(dep) and ref.tag == dep.pushed.tag:", "if ref.locator in _locators(dep):",
     [CORPUS]),
    ("set-images: an image field at another tag is left alone", "acrtasks/deploy/refs.py",
     "same = [dep for dep in candidates if dep.pushed.tag == tag]", "same = candidates", [CORPUS]),
    ("set-images: a value whose variables cover more than the tag is no image", "acrtasks/deploy/rewrite.py",
     "            if beyond_tag and site.is_env_entry:", "            if False:", [CORPUS, PROPERTY]),
    ("set-images refuses an image field with variables beyond the tag", "acrtasks/deploy/rewrite.py",
     "        if beyond_tag:\n", "        if False:\n", [SET_IMAGES, "-k", "templates_compose"]),
    ("set-images refuses an invalid compose template", "acrtasks/deploy/rewrite.py",
     "                check_templates(root, path)", "                pass", [SET_IMAGES, "-k", "templates_compose"]),
    ("compose merge keys are followed", "acrtasks/util/inputs.py",
     "merged.extend(value_node.value if is_seq(value_node) else [value_node])", "pass", [CORPUS]),
    ("the process environment wins over .env", "acrtasks/compose/project.py",
     "Environment({**dotenv, **environ}, dotenv, path)", "Environment({**environ, **dotenv}, dotenv, path)",
     [COMPOSE, "-k", "environment_order"]),
    ("push-deps reads compose's interpolation", "acrtasks/compose/project.py",
     "value, missing = env.resolve(image.value)", "value, missing = image.value, []",
     [COMPOSE, "-k", "compose_images", "tests/unit/test_deps.py"]),
    ("a refused manifest PUT is done when the target holds the digest", "acrtasks/copy/remote.py",
     "                if held == manifest.digest:", "                if False:", [DEPS, "-k", "refused_index"]),
    ("a digest of another length is refused where it enters", "acrtasks/naming.py",
     "    if len(encoded) != DIGEST_LENGTHS[algorithm]:", "    if False:", [NAMING, "-k", "reference_table"]),
    ("the 255-character limit leaves the host out", "acrtasks/naming.py",
     "        if len(self.repository) > _MAX_NAME_LENGTH:", "        if len(self.locator) > _MAX_NAME_LENGTH:",
     ["tests/unit/test_naming.py", "-k", "limits or 1020"]),
    ("a recorded digest is checked before --pin digest writes it", "acrtasks/deploy/digests.py",
     "        if problem:  # checked where it enters", "        if False:  # checked where it enters",
     [SET_IMAGES, "-k", "pin_digest"]),
    ("set-images --check exits 1 on stale files", "acrtasks/tasks/deploy.py", "        if check and stale:",
     "        if False:", [SET_IMAGES, "-k", "only_the_image_bytes"]),
    ("set-images --pin digest", "acrtasks/tasks/deploy.py", ' if pin_value == "digest" else None',
     " if False else None", [SET_IMAGES, "-k", "pin_digest"]),
    ("set-images writes nothing on any error", "acrtasks/tasks/deploy.py", "    if planner.errors:", "    if False:",
     [SET_IMAGES, "-k", "bad_files or conflict or anchor"]),
    ("import verifies checksums first", "acrtasks/copy/layout.py",
     "            if digest.hexdigest() != expected:", "            if False:", [BUNDLE, "-k", "corrupt"]),
    ("import finds a missing blob", "acrtasks/delivery/bundle.py", '            _check_blobs(reader, named[ref]["digest"], listed)',
     "            pass", [BUNDLE, "-k", "corrupt"]),
    ("a bundle blob is checked against its digest", "acrtasks/copy/copier.py", "        if got != self.digest:",
     "        if False:", [FAULTS, "-k", "hash_to"]),
    ("import --engine loads the chosen platform", "acrtasks/delivery/bundle.py",
     "str(image.ref), target, [platform])", "str(image.ref), target, [\"linux/amd64\"])",
     [BUNDLE, "-k", "engine_loads"]),
    ("--load-platform picks manifest.json's platform", "acrtasks/delivery/bundle.py",
     "if not platform or platform_matches(platform, plan.load_platform)]",
     "if not platform or platform_matches(platform, \"linux/arm64\")]", [BUNDLE, "-k", "docker_load"]),
    ("export leaves no partial bundle", "acrtasks/delivery/bundle.py", "    except BaseException:\n        writer.abort()",
     "    except BaseException:\n        pass", [FAULTS, "-k", "export"]),
    ("the blob location memory mounts", "acrtasks/copy/remote.py",
     "candidates = self.locations.candidates(host, digest, exclude=self.repo)", "candidates = []",
     [DEPS, "-k", "second_namespace"]),
    ("export --no-deps", "acrtasks/delivery/bundle.py", "    if with_deps:\n        for text", "    if True:\n        for text",
     [BUNDLE, "-k", "gzip"]),
    ("pull checks every ref first", "acrtasks/delivery/puller.py", "    if missing:", "    if False:", [BUNDLE, "-k", "pull"]),
    ("TLS trust through an HTTPS proxy", "acrtasks/registry/transport.py",
     "urllib3.ProxyManager(proxy, **options) if proxy", "urllib3.ProxyManager(proxy, maxsize=self._pool) if proxy",
     [BUNDLE, "-k", "posing_as_acr"]),
    ("import names dependencies as push-deps", "acrtasks/delivery/bundle.py",
     "targets.append((image, release.dependency(image.name).target))",
     "targets.append((image, release.component(image.ref.name).ref))", [BUNDLE, "-k", "htpasswd"]),
    ("import re-creates aliases", "acrtasks/delivery/bundle.py",
     "for ref in release.component(image.name).registry_refs)",
     "for ref in release.component(image.name).registry_refs[:1])", [BUNDLE, "-k", "htpasswd or posing_as_acr"]),
    ("--backend honoured", "acrtasks/tasks/build.py", "chosen = choose(backend or config.backend,",
     "chosen = choose(config.backend,", [BACKENDS, "-k", "refuses_secrets"]),
    ("build arg values and secrets stay out of the CLI's argv", "acrtasks/build/backends/cli.py",
     "        if _CLI_ENV.match(name):", "        if True:", [BACKENDS, "-k", "leaves_no_trace"]),
    ("--network reaches BuildKit", "acrtasks/build/backends/cli.py", '        flags += ["--network", step.network]',
     "        pass", [BACKENDS, "-k", "network"]),
    ("--network reaches the classic builder", "acrtasks/build/engine.py", "network_mode=step.network or None,",
     "network_mode=None,", [BACKENDS, "-k", "network"]),
    ("a failing BuildKit step is named", "acrtasks/build/backends/cli.py", "                self.failed_vertex = number",
     "                pass", [BACKENDS, "-k", "failing"]),
    ("the classic backend refuses secrets", "acrtasks/build/backends/select.py", "        if secrets:", "        if False:",
     [BACKENDS, "-k", "refuses_secrets"]),
    ("auto takes the first CLI that can", "acrtasks/build/backends/select.py",
     "buildkit = next((cli for cli in clis if cli.buildkit), None)", "buildkit = next(iter(clis), None)",
     ["tests/unit/test_backend_logic.py"]),
    ("Ctrl-C leaves no build temp dir", "acrtasks/build/backends/cli.py",
     "        for directory in scratch:\n            shutil.rmtree(directory, ignore_errors=True)",
     "        for directory in scratch:\n            pass", ["tests/integration/test_output.py", "-k", "ctrl_c_stops_a_stuck"]),
    ("push --jobs", "acrtasks/build/pusher.py", "first = run_jobs(push, first_wave, jobs)",
     "first = run_jobs(push, first_wave, 1)", [PUSHES, "-k", "overlap"]),
    ("big shared layers in another repository wait for the first push", "acrtasks/build/pusher.py",
     "for leader_step, leader in first)", "for leader_step, leader in first[:0])", [PUSHES, "-k", "shared"]),
    ("small shared layers and one repository never wait", "acrtasks/build/pusher.py",
     "(later if waits else first).append((step, ref))", "(later if first else first).append((step, ref))",
     [PUSHES, "-k", "overlap or flat"]),
    ("a registry's first push probes it: a refusal skips the rest", "acrtasks/build/pusher.py",
     "probe = probes[ref.host] == item", "probe = True", [BUILD_PUSH, "-k", "without_credentials"]),
    ("the others start once the probe uploads", "acrtasks/build/pusher.py", "opened[ref.host].set if probe else None",
     "None", [PUSHES, "-k", "overlap"]),
    ("history reads the oldest steps first", "acrtasks/build/engine.py",
     "for entry in reversed(entries[-MAX_HISTORY:]):", "for entry in entries[-MAX_HISTORY:]:",
     [PUSHES, "-k", "shared"]),
    ("the test harness leaves docker0 alone", "tests/harness/engines.py", 'f"--bridge={bridge.name}",',
     '"--bridge=none",', ["tests/integration/test_harness_proof.py", "-k", "docker0"]),

    # Two engines (#18): what the containerd image store does differently, and buildx for real.
    ("push digest from the status line (containerd store)", "acrtasks/build/engine.py",
     "    return match.group(1) if match else None", "    return None",
     [BUILD_PUSH, "-k", "engine26 and push_nested"]),
    ("a push is checked against the registry", "acrtasks/build/pusher.py", "            check_held(held, ref, digest)",
     "            pass", [BUILD_PUSH, "-k", "does_not_hold"]),
    ("docker load names from index.json (containerd store)", "acrtasks/copy/layout.py",
     "            entries += load_entries(names, manifest, taken)", "            pass",
     [BUNDLE, "-k", "engine26 and docker_load"]),
    ("import --engine expects the containerd store's id", "acrtasks/copy/daemon.py",
     "        expected = manifest.digest if self.engine.containerd_store else config[0]",
     "        expected = config[0]", [BUNDLE, "-k", "engine26 and import_into_the_engine"]),
    ("an export from the engine keeps its own manifest", "acrtasks/copy/daemon.py",
     "        own = self._own_manifest(hashes)", "        own = None", [BUNDLE, "-k", "engine26 and never_pushed"]),
    ("what the build pushed is checked against the registry", "acrtasks/build/builder.py",
     '                    check_held(held, ref, output.digest, who="the build")', "                    pass",
     [BUILDX, "-k", "read_back"]),
    ("another engine's context as docker --context", "acrtasks/build/backends/cli.py",
     '    selector = ["--context", builder] if builder and context else []', "    selector = []",
     [BUILDX, "-k", "context"]),
    ("a builder of its own pushes", "acrtasks/build/backends/cli.py",
     "    return len(step.platforms) > 1 or bool(builder)", "    return len(step.platforms) > 1",
     [BUILDX, "-k", "context"]),
    ("[build] cache = registry reads the cache", "acrtasks/build/backends/cli.py",
     '        flags += ["--cache-from", f"type=registry,ref={step.cache}",', "        flags += [",
     [BUILDX, "-k", "cache"]),
    ("[build] cache honoured", "acrtasks/build/plan.py", '        if (component.cache or config.cache) == "registry":',
     "        if False:", [BUILDX, "-k", "cache"]),
    ("the containerd store's pushes to one repository wait", "acrtasks/build/pusher.py",
     "    shared = not engine.containerd_store", "    shared = True", [PUSHES, "-k", "engine26 and flat_layout"]),
    # ACR (#19): attestations.
    ("attestations dropped for ACR builds", "acrtasks/build/backends/cli.py",
     '        return ["--provenance=false", "--sbom=false"]', "        return []",
     ["tests/integration/test_acr.py", "-k", "buildx"]),
    ("attestations dropped from copied indexes", "acrtasks/copy/copier.py", "    if drop_attestations:",
     "    if False:", ["tests/integration/test_acr.py", "-k", "push_deps"]),
    ("ACR's artifact refusal names the fix", "acrtasks/errors.py", '        return f"{exc}; {ARTIFACT_FIX}"',
     "        return str(exc)", ["tests/integration/test_acr.py", "-k", "push_deps"]),
    ("the preflight runs before the first build", "acrtasks/tasks/build.py",
     "    if (chosen.pushes or pushes_next) and settings.naming.registry is not None and not no_preflight:",
     "    if False:", ["tests/integration/test_acr.py", "-k", "missing_namespace"]),
    ("--no-preflight honoured", "acrtasks/tasks/build.py", "    if not no_preflight:\n", "    if True:\n",
     [BUILD_PUSH, "-k", "stopped_registry"]),
    ("a raced manifest PUT is tried again", "acrtasks/copy/remote.py",
     "                if exc.status != 400 or attempt == RACED_PUT_TRIES:", "                if True:",
     [DEPS, "-k", "refused"]),
    ("[build] sbom asks buildx for an SBOM", "acrtasks/build/backends/cli.py",
     '    return [f"--sbom=generator={step.sbom_generator}"] if step.sbom_generator else ["--sbom=true"]',
     "    return []", ["tests/integration/test_acr.py", "-k", "sbom"]),
    ("component platforms honoured", "acrtasks/build/plan.py",
     "platforms=tuple(platforms or component.platforms or config.platforms)",
     "platforms=tuple(platforms or config.platforms)", ["tests/unit/test_plan.py", "-k", "platforms"]),
    # releases as units (docs/releases.md)
    ("an unchanged component is not built", "acrtasks/build/changes.py",
     'if entry["input"]["digest"] != inputs.digest:', "if True:", [RELEASES, "-k", "next_release and engine20"]),
    (".dockerignore applies to the input digest", "acrtasks/build/inputs.py",
     "paths = sorted(exclude_paths(str(context), patterns, dockerfile=dockerfile))",
     "paths = sorted(exclude_paths(str(context), [], dockerfile=dockerfile))", [RELEASES, "-k", "counts_as"]),
    ("a moved base tag is a change", "acrtasks/build/inputs.py",
     "cache[name] = order[0](name) or order[1](name)", 'cache[name] = "sha256:" + "0" * 64',
     [RELEASES, "-k", "counts_as"]),
    ("--rebuild builds everything", "acrtasks/tasks/build.py", "rebuild or no_cache or config.rebuild",
     "no_cache or config.rebuild", [RELEASES, "-k", "counts_as"]),
    ("a relabelled image states the new version", "acrtasks/build/relabel.py",
     'section["Labels"] = {**(section.get("Labels") or {}), **labels}',
     'section["Labels"] = section.get("Labels") or {}', [RELEASES, "-k", "next_release and engine20"]),
    ("a relabel uploads no layer", "acrtasks/build/relabel.py",
     "copied = copy_image(memory, top.digest, target, with_platforms=True,",
     "copied = copy_image(memory, top.digest, target, with_platforms=True, force=True,",
     [RELEASES, "-k", "next_release and engine20"]),
    ("the record is written after the chain's last push", "acrtasks/tasks/run.py",
     "if skip or any(name in RECORDING_TASKS for name in later):", "if True:",
     [RELEASES, "-k", "one_record and engine20"]),
    ("--no-record honoured", "acrtasks/tasks/run.py",
     "if skip or any(name in RECORDING_TASKS for name in later):",
     "if any(name in RECORDING_TASKS for name in later):", [RELEASES, "-k", "no_record and engine20"]),
    ("set-images --pin digest reads the record", "acrtasks/deploy/digests.py",
     '("release record", self._from_record),', "", [RELEASES, "-k", "set_images and engine20"]),
    ("pull reads the record", "acrtasks/tasks/delivery.py",
     "    puller.preflight(steps, run.clients(), found)", "    puller.preflight(steps, run.clients())",
     [RELEASES, "-k", "set_images and engine20"]),
    ("promote mounts within a registry", "acrtasks/copy/remote.py", "and repo and repo != self.repo:",
     "and False:", [RELEASES, "-k", "reads_once and engine20"]),
    ("promote sends a blob in flight once", "acrtasks/copy/fanout.py",
     "            if event is None:\n                self._events[(host, digest)] = threading.Event()\n            return event",
     "            return None", [RELEASES, "-k", "reads_once and engine20"]),
    ("one failing destination does not fail the others", "acrtasks/copy/fanout.py",
     "        elif failure is not None:", "        elif any(failures):",
     [RELEASES, "-k", "midway and engine20"]),
    ("promote checks each blob as it reads it", "acrtasks/copy/fanout.py",
     "checked = BlobStream(source, digest, size, iter(chunks))",
     "checked = BlobStream(source, digest, size, iter(chunks), hashed=False)",
     [RELEASES, "-k", "corrupt and engine20"]),
    ("a destination the preflight refuses is left out, the others promoted", "acrtasks/delivery/promote.py",
     "        except PreflightError as exc:\n            return str(exc)",
     "        except PreflightError as exc:\n            raise", [RELEASES, "-k", "refusing_and_one_dead and engine20"]),
    ("promote drops attestations for ACR", "acrtasks/delivery/promote.py",
     "dest.drop_attestations = drops(dest.naming.registry.host)", "dest.drop_attestations = False",
     [RELEASES, "-k", "promote_to_acr"]),
    # #26: a release is what was pushed; flags anywhere in the chain
    ("set-images leaves what the release did not push", "acrtasks/deploy/digests.py",
     "        found = self.record()\n        if found is None:\n            return None",
     "        return None", [PARTIAL, "-k", "alone and engine20"]),
    ("set-images confirms each ref before writing", "acrtasks/deploy/rewrite.py",
     "        if not digest:\n            self.errors.append(", "        if False:\n            self.errors.append(",
     [PARTIAL, "-k", "never_writes and engine20"]),
    ("pull takes the record's components", "acrtasks/delivery/puller.py",
     "    chosen = ([release.component(name) for name in components_of(found, components)] if found is not None",
     "    chosen = ([release.component(name) for name in components_of(found, components)] if False",
     [PARTIAL, "-k", "partial_release and engine20"]),
    ("export takes the record's components", "acrtasks/delivery/bundle.py",
     "    chosen = ([release.component(name) for name in components_of(found, components)] if found is not None",
     "    chosen = ([release.component(name) for name in components_of(found, components)] if False",
     [PARTIAL, "-k", "partial_release and engine20"]),
    ("a flag after a task that lacks it is borrowed", "acrtasks/tasks/common.py",
     "        if self.shared_flags is None or help_asked():", "        if True:", [CHAIN]),
    ("a borrowed value reaches the task that has the flag", "acrtasks/tasks/chain.py",
     "            if arg.got_value and arg.name not in given:", "            if False:", [CHAIN]),
    ("help shows a task's own flags only", "acrtasks/tasks/chain.py",
     'return "--help" in body or "-h" in body', "return False", [CHAIN, "-k", "help"]),
    ("--component a,b", "acrtasks/config.py", 'for name in given.split(",")', "for name in [given]",
     ["tests/unit/test_config.py", "-k", "comma"]),

]


def run(selected) -> int:
    dirty = subprocess.run(["git", "status", "--porcelain", "acrtasks", "tests"], cwd=REPO, capture_output=True,
                           text=True).stdout
    if dirty.strip():
        print("breakages: acrtasks/ or tests/ has uncommitted changes; commit or stash them first", file=sys.stderr)
        return 2
    env = {**os.environ, "ACRTASKS_REQUIRE_ENGINE": "1"}
    caught, missed, stale = [], [], []
    for name, file, old, new, tests in selected:
        path = REPO / file
        original = path.read_text()
        if original.count(old) != 1:
            stale.append(name)
            print(f"STALE     {name}: the line to break is not in {file} exactly once")
            continue
        started = time.monotonic()
        try:
            path.write_text(original.replace(old, new))
            done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                                  cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        finally:
            path.write_text(original)
        verdict = "caught" if done.returncode != 0 else "SURVIVED"
        (caught if done.returncode != 0 else missed).append(name)
        print(f"{verdict:<9} {name}  ({time.monotonic() - started:.0f} s)", flush=True)
    total = len(caught) + len(missed)
    rate = len(caught) / total if total else 0.0
    print(f"\n{len(caught)} of {total} breakages caught ({rate:.0%}; target {TARGET:.0%})"
          + (f"; {len(stale)} stale" if stale else ""))
    if missed:
        print("survived: " + "; ".join(missed))
    return 0 if rate >= TARGET and not stale else 1


if __name__ == "__main__":
    wanted = sys.argv[1:]
    chosen = [b for b in BREAKAGES if not wanted or any(w in b[0] for w in wanted)]
    sys.exit(run(chosen))
