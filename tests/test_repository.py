"""The repository around the integration: workflows, HACS metadata, changelog.

The release workflow's shell steps run here too, in a copy of the integration, so a
release cannot be the first time they run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import shutil
import subprocess
from typing import Any
import zipfile

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
INTEGRATION = ROOT / "custom_components" / "plex_api"
CHANGELOG = ROOT / "CHANGELOG.md"
REPOSITORY_URL = "https://github.com/plex-api/plex_api"

WORKFLOW_FILES = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
# owner/repo, optionally a path inside it, then @ and a tag, branch or commit.
ACTION = re.compile(r"[\w.-]+/[\w.-]+(?:/[\w.-]+)*@[\w.-]+")
# As GitHub runs a `run:` step on Linux.
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]


def load_yaml(path: Path) -> Any:
    """A YAML file, read as GitHub reads it."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_json(path: Path) -> Any:
    """A JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def manifest_version() -> str:
    """The version Home Assistant and HACS show."""
    version = load_json(INTEGRATION / "manifest.json")["version"]
    assert isinstance(version, str)
    return version


def triggers(workflow: dict[Any, Any]) -> Any:
    """The `on:` section (YAML 1.1 reads the bare key `on` as True)."""
    return workflow["on"] if "on" in workflow else workflow[True]


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    """Every step of every job."""
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_the_workflows_are_there() -> None:
    """Validation, tests and releases each have their workflow."""
    assert {path.name for path in WORKFLOW_FILES} >= {
        "validate.yml",
        "tests.yml",
        "release.yml",
    }


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_workflow_is_valid(path: Path) -> None:
    """Each workflow is YAML with triggers and jobs whose steps do something."""
    workflow = load_yaml(path)
    assert isinstance(workflow, dict)
    assert triggers(workflow)
    assert workflow["jobs"]
    for name, job in workflow["jobs"].items():
        assert job["runs-on"], name
        assert job["steps"], name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_actions_name_a_ref(path: Path) -> None:
    """Every action is owner/repo[/path]@ref: no action without a version."""
    for step in steps(load_yaml(path)):
        if "uses" in step:
            assert ACTION.fullmatch(step["uses"]), step["uses"]


def test_validation_runs_hassfest_and_hacs() -> None:
    """Both validators, on every change and every day."""
    workflow = load_yaml(WORKFLOWS / "validate.yml")
    assert set(triggers(workflow)) >= {
        "push",
        "pull_request",
        "schedule",
        "workflow_dispatch",
    }
    uses = {step["uses"].split("@")[0]: step for step in steps(workflow)}
    assert "home-assistant/actions/hassfest" in uses
    assert uses["hacs/action"]["with"] == {"category": "integration"}


def test_tests_run_the_test_command() -> None:
    """CI runs scripts/test, the one test command, with Python 3.14."""
    workflow = load_yaml(WORKFLOWS / "tests.yml")
    assert set(triggers(workflow)) >= {"push", "pull_request"}
    python = [s for s in steps(workflow) if "setup-python" in s.get("uses", "")]
    assert [step["with"]["python-version"] for step in python] == ["3.14"]
    assert any(step.get("run") == "scripts/test" for step in steps(workflow))


def test_release_zip_is_what_hacs_downloads() -> None:
    """HACS installs the zip the release workflow attaches, under the same name."""
    hacs = load_json(ROOT / "hacs.json")
    assert hacs["zip_release"] is True
    assert hacs["filename"].endswith(".zip")
    workflow = load_yaml(WORKFLOWS / "release.yml")
    assert triggers(workflow) == {"release": {"types": ["published"]}}
    assert workflow["permissions"] == {"contents": "write"}
    assert workflow["env"]["ZIP_NAME"] == hacs["filename"]


def release_step(name: str) -> str:
    """The shell script of one step of the release workflow."""
    workflow = load_yaml(WORKFLOWS / "release.yml")
    scripts = [step["run"] for step in steps(workflow) if step.get("name") == name]
    assert len(scripts) == 1, name
    return str(scripts[0])


def run_step(
    name: str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run a release step as the runner would, with jq, zip and unzip."""
    missing = [
        tool for tool in ("bash", "jq", "zip", "unzip") if not shutil.which(tool)
    ]
    if missing:
        pytest.fail(
            f"the release workflow's tools are missing: {', '.join(missing)} "
            "(GitHub's runners have them; apt-get install jq zip unzip)"
        )
    return subprocess.run(  # noqa: S603 (the repository's own workflow)
        [*BASH, release_step(name)],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("prefix", ["v", ""])
def test_release_accepts_the_manifest_version(prefix: str) -> None:
    """A tag vX.Y.Z or X.Y.Z with the manifest's version passes."""
    tag = prefix + manifest_version()
    result = run_step("Tag matches manifest.json", ROOT, {"TAG": tag})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "tag", ["v0.0.0", "vv{version}", "V{version}", "{version}-rc1", ""]
)
def test_release_refuses_another_tag(tag: str) -> None:
    """Any other tag fails the release, and says why."""
    tag = tag.format(version=manifest_version())
    result = run_step("Tag matches manifest.json", ROOT, {"TAG": tag})
    assert result.returncode == 1
    assert f"::error::Release tag '{tag}' does not match version" in result.stdout
    assert f"'{manifest_version()}'" in result.stdout


def test_release_zip_holds_the_integration_at_its_root(tmp_path: Path) -> None:
    """manifest.json and the rest at the zip's root, without bytecode."""
    copy = tmp_path / "custom_components" / "plex_api"
    shutil.copytree(
        INTEGRATION, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    expected = {
        path.relative_to(copy).as_posix() for path in copy.rglob("*") if path.is_file()
    }
    # What an earlier test run or Home Assistant leaves behind must stay out.
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "const.cpython-314.pyc").write_bytes(b"bytecode")
    (copy / "plex" / "__pycache__").mkdir()
    (copy / "plex" / "__pycache__" / "client.cpython-314.pyc").write_bytes(b"x")

    zip_name = load_json(ROOT / "hacs.json")["filename"]
    result = run_step(
        "Zip custom_components/plex_api", tmp_path, {"ZIP_NAME": zip_name}
    )
    assert result.returncode == 0, result.stdout + result.stderr

    with zipfile.ZipFile(tmp_path / zip_name) as archive:
        files = {name for name in archive.namelist() if not name.endswith("/")}
    assert files == expected
    assert {"manifest.json", "__init__.py", "translations/en.json"} <= files


def test_changelog_has_the_manifest_version() -> None:
    """The version being released has a dated section and a link."""
    text = CHANGELOG.read_text(encoding="utf-8")
    version = re.escape(manifest_version())
    assert re.search(
        rf"^## \[{version}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.MULTILINE
    )
    assert re.search(rf"^\[{version}\]: {REPOSITORY_URL}/", text, re.MULTILINE)


def test_changelog_sections_have_links() -> None:
    """Keep a Changelog: [Unreleased] first, and a link for every section."""
    text = CHANGELOG.read_text(encoding="utf-8")
    sections = re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE)
    assert sections[0] == "Unreleased"
    links = re.findall(rf"^\[([^\]]+)\]: {REPOSITORY_URL}/", text, re.MULTILINE)
    assert links == sections
