"""The execution environment's definition and the pinned collections.

collections/requirements.yml must list every collection the repository's YAML
uses, at the exact version that the pinned `ansible` package bundles (the
controller and the execution environment get them from it, never from Galaxy);
execution-environment.yml must use the controller's own pins and lists, and
bindep.txt must be harness/setup-controller's list of Debian packages.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import re
import subprocess

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
EE_FILE = REPO / "execution-environment.yml"
# Not scanned: the list itself names what it pins.
PINS = pathlib.Path("collections", "requirements.yml")
SKIPPED_DIRS = {".git", ".venv", ".cache", ".ruff_cache", ".pytest_cache", "credentials",
                "reports", "node_modules", "__pycache__"}
# The files where a play, a template or the configuration names a module,
# plugin, filter or test by its FQCN.
SCANNED_SUFFIXES = {".yml", ".yaml", ".j2", ".cfg"}
FQCN = re.compile(r"(?<![\w.])([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.([a-z_][a-z0-9_]*)(?![\w])")
# ansible-core's own, not a collection to install.
CORE = {("ansible", "builtin"), ("ansible", "legacy")}


def bundled_collections() -> pathlib.Path:
    spec = importlib.util.find_spec("ansible_collections")
    assert spec and spec.submodule_search_locations, "the `ansible` package is not installed"
    for location in spec.submodule_search_locations:
        if (pathlib.Path(location) / "community").is_dir():
            return pathlib.Path(location)
    pytest.fail("no bundled collections in the `ansible` package")


def pinned() -> dict[str, str]:
    data = yaml.safe_load((REPO / PINS).read_text(encoding="utf-8"))
    return {entry["name"]: entry["version"] for entry in data["collections"]}


def python_pins(path: pathlib.Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line} is not pinned with =="
            pins[name.strip().lower()] = version.strip()
    return pins


def scanned_files():
    for path in REPO.rglob("*"):
        relative = path.relative_to(REPO)
        if any(part in SKIPPED_DIRS for part in relative.parts) or relative == PINS:
            continue
        if path.is_file() and (path.suffix in SCANNED_SUFFIXES or path.name == ".ansible-lint"):
            yield path


def used_collections() -> dict[tuple[str, str], set[str]]:
    """(namespace, name) of every FQCN in the scanned files whose namespace is
    one the `ansible` package has, with the files that use it."""
    namespaces = {p.name for p in bundled_collections().iterdir() if p.is_dir()}
    used: dict[tuple[str, str], set[str]] = {}
    for path in scanned_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for namespace, name, _ in FQCN.findall(text):
            if namespace in namespaces and (namespace, name) not in CORE:
                used.setdefault((namespace, name), set()).add(str(path.relative_to(REPO)))
    return used


def test_every_collection_in_use_is_pinned():
    used = used_collections()
    assert used, "the scan found no collection at all: is it broken?"
    missing = {f"{ns}.{name}": sorted(files) for (ns, name), files in used.items()
               if f"{ns}.{name}" not in pinned()}
    assert not missing, f"collections used but not in collections/requirements.yml: {missing}"


def test_no_collection_is_pinned_for_nothing():
    used = {f"{ns}.{name}" for ns, name in used_collections()}
    assert sorted(set(pinned()) - used) == []


def test_the_pins_are_the_versions_the_ansible_package_bundles():
    root = bundled_collections()
    for name, version in pinned().items():
        namespace, collection = name.split(".")
        manifest = root / namespace / collection / "MANIFEST.json"
        assert manifest.is_file(), f"the `ansible` package has no {name}"
        bundled = json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"]
        assert version == bundled, f"{name}: pinned {version}, the `ansible` package has {bundled}"


def test_the_lab_only_collection_is_marked():
    text = (REPO / PINS).read_text(encoding="utf-8")
    before = text.split("name: containers.podman", 1)[0].rsplit("- name:", 1)[-1]
    assert "Lab and tests only" in before


def test_the_scan_sees_an_fqcn_and_ignores_a_domain():
    assert FQCN.findall("community.crypto.x509_certificate: {}") == [
        ("community", "crypto", "x509_certificate")]
    assert FQCN.findall("x | ansible.utils.ipaddr('prefix')") == [("ansible", "utils", "ipaddr")]
    assert FQCN.findall("host: meet.prova.teletreball.test") == [("meet", "prova", "teletreball")]


def ee_definition() -> dict:
    return yaml.safe_load(EE_FILE.read_text(encoding="utf-8"))


def test_the_definition_is_valid_for_ansible_builder_3():
    ee_schema = pytest.importorskip("ansible_builder.ee_schema")
    definition = ee_definition()
    assert definition["version"] == 3
    ee_schema.validate_schema(definition)


def test_the_definition_uses_the_controllers_files():
    dependencies = ee_definition()["dependencies"]
    assert dependencies["python"] == "requirements-controller.txt"
    assert dependencies["system"] == "bindep.txt"
    assert dependencies["galaxy"] == "collections/requirements.yml"
    for key in ("python", "system", "galaxy"):
        assert (REPO / dependencies[key]).is_file()
    for entry in ee_definition()["additional_build_files"]:
        assert (REPO / entry["src"]).is_file(), entry


def test_ansible_core_and_runner_are_pinned_like_the_controller():
    dependencies = ee_definition()["dependencies"]
    controller = python_pins(REPO / "requirements-controller.txt")
    core = dependencies["ansible_core"]["package_pip"]
    assert core == f"ansible-core=={controller['ansible-core']}"
    runner = dependencies["ansible_runner"]["package_pip"]
    assert re.fullmatch(r"ansible-runner==\d+\.\d+\.\d+", runner)
    assert "ansible" in controller, "the collections come with the `ansible` package"


def test_the_build_tool_is_pinned_with_the_test_tools():
    tools = python_pins(REPO / "requirements.txt")
    assert re.fullmatch(r"\d+\.\d+\.\d+", tools.get("ansible-builder", ""))
    assert "ansible-builder" not in python_pins(REPO / "requirements-controller.txt")


def test_the_base_image_comes_from_no_registry():
    """The default base is the local image of harness/build-image; a council
    passes its own with --build-arg EE_BASE_IMAGE."""
    assert ee_definition()["images"]["base_image"]["name"].startswith("localhost/")


def bindep_packages() -> list[str]:
    names = []
    for line in (REPO / "bindep.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([a-z0-9][a-z0-9.+-]+) \[platform:dpkg !compile\]", line)
            assert match, f"bindep.txt: '{line}' is not 'NAME [platform:dpkg !compile]'"
            names.append(match.group(1))
    return names


def setup_controller_packages() -> list[str]:
    """controller_packages of harness/setup-controller (sourced: it returns
    before it installs anything), and npm, which it adds when no npm is there."""
    script = REPO / "harness" / "setup-controller"
    result = subprocess.run(
        ["bash", "-c", 'source "$1" && printf "%s\\n" "${controller_packages[@]}"', "bash",
         str(script)],
        capture_output=True, text=True, check=True)
    assert "echo npm" in script.read_text(encoding="utf-8")
    return [*result.stdout.split(), "npm"]


def test_bindep_is_the_controllers_package_list():
    packages = bindep_packages()
    assert len(packages) == len(set(packages)), "bindep.txt names a package twice"
    assert sorted(packages) == sorted(set(setup_controller_packages()))
