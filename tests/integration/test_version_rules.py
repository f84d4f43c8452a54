"""build.sh's version rule ([build] version_from = "branch-or-tag") names every commit of a branch alike: a push
never silently overwrites another build's tag."""


from harness import BASE_IMAGE, git


def test_a_shared_version_is_not_overwritten_by_another_build(project, engine, registry):
    project.component("api", f"FROM {BASE_IMAGE}\nCOPY Dockerfile note.txt /\n")
    (project.root / "api" / "note.txt").write_text("first\n")
    project.write('[build]\nversion_from = "branch-or-tag"\n')
    git(project.root, "init", "-q", "-b", "v0.0.3.4")  # a release branch: build.sh's version
    git(project.root, "add", ".")
    git(project.root, "commit", "-q", "-m", "first")
    team = f"{registry.host}/team"
    first = project.inv("build", "push", "--registry", team, "--progress", "quiet")
    assert first.returncode == 0, first.stdout + first.stderr
    pushed = registry.digest("team/demo-api", "v0.0.3.4")
    assert pushed
    again = project.inv("build", "push", "--registry", team, "--progress", "quiet")  # the same inputs: fine
    assert again.returncode == 0, again.stdout + again.stderr
    pushed = registry.digest("team/demo-api", "v0.0.3.4")  # a new created label, the same input digest
    (project.root / "api" / "note.txt").write_text("second\n")
    git(project.root, "commit", "-q", "-am", "second")
    refused = project.inv("build", "push", "--registry", team, "--progress", "quiet")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "version v0.0.3.4" in errors[0] and "holds a build of other inputs" in errors[0]
    assert "--force" in errors[0]
    assert registry.digest("team/demo-api", "v0.0.3.4") == pushed  # untouched
    forced = project.inv("build", "push", "--registry", team, "--progress", "quiet", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert registry.digest("team/demo-api", "v0.0.3.4") not in (None, pushed)
