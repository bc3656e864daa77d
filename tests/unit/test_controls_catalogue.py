"""controls/catalogue.yml, the roles' tags, the tests and the waivers agree.

* every control has id, title, role, tag, ens, audit and tests, with a known role
  and an existing tests file;
* cis names the CIS Debian 13 item(s), or is null with a cis_note saying why, and the
  header comment lists every control whose cis is null;
* every ENS measure a control cites is described in ens_measures (name and the lowest
  category that applies it), and ens_measures describes no measure nobody cites;
* audit names where the live audit evaluates the control: known inventory groups or
  the controller;
* every control ID is proven by at least one test marked
  ``@pytest.mark.control("<ID>")`` under roles/*/molecule/*/tests,
  molecule/*/tests or tests/preflight (what holds on the controller), and every
  such marker names a catalogued control;
* every control's tag is used in the tasks of its role;
* every waiver names a catalogued control and gives a reason.
"""

from __future__ import annotations

import ast
import pathlib
import re
from collections.abc import Iterator

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "controls" / "catalogue.yml"
WAIVERS = REPO / "controls" / "waivers.yml"
REQUIRED_FIELDS = ("id", "title", "role", "tag", "ens", "audit", "tests")
ID_PATTERN = re.compile(r"^[A-Z]+-[A-Z]+-[0-9]{2}$")
# ENS (RD 311/2022, anexo II) measures: org.N, op.xxx.N, mp.xxx.N
ENS_PATTERN = re.compile(r"^(org\.[0-9]+|(op|mp)\.[a-z]+\.[0-9]+)$")
WAIVER_SCOPES = {"container"}
ENS_CATEGORIES = {"básica", "media", "alta"}
# Inventory groups the live audit (playbooks/audit.yml) runs on, and the controller.
AUDIT_TARGETS = {
    "all",
    "vpn_gateways",
    "vdi_hosts",
    "pbx_servers",
    "conference_servers",
    "package_repo_hosts",
    "log_hosts",
    "controller",
}
# The header comment's list of the controls with no CIS Debian 13 equivalent.
NO_CIS_HEADING = "# No CIS Debian 13 equivalent"


def load(path: pathlib.Path):
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def controls() -> list[dict]:
    return load(CATALOGUE).get("controls") or []


def ens_measures() -> dict:
    return load(CATALOGUE).get("ens_measures") or {}


def header_without_cis() -> list[str]:
    """The IDs the header comment lists under NO_CIS_HEADING (up to the next bare '#')."""
    lines = CATALOGUE.read_text(encoding="utf-8").splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith(NO_CIS_HEADING)]
    assert len(starts) == 1, f"the header has no single {NO_CIS_HEADING!r} line"
    ids: list[str] = []
    for line in lines[starts[0] + 1 :]:
        if not line.startswith("#   "):
            break
        ids += [item.strip() for item in line[1:].split(",") if item.strip()]
    return ids


def control_ids() -> set[str]:
    return {control.get("id") for control in controls()}


def scenario_test_files() -> list[pathlib.Path]:
    # tests/preflight: the controls that hold on the controller (the inventory's data).
    patterns = ("roles/*/molecule/*/tests/*.py", "molecule/*/tests/*.py", "tests/preflight/*.py")
    return sorted(path for pattern in patterns for path in REPO.glob(pattern))


def control_markers(path: pathlib.Path) -> Iterator[str]:
    """The IDs of every ``pytest.mark.control("<ID>")`` in a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "control"
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "mark"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value


def markers_by_file() -> dict[pathlib.Path, set[str]]:
    return {path: set(control_markers(path)) for path in scenario_test_files()}


def task_tags(role: str) -> set[str]:
    """Every tag used in the task files of a role (tasks, blocks, imports)."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            tags = node.get("tags")
            if isinstance(tags, str):
                found.update(tag.strip() for tag in tags.split(","))
            elif isinstance(tags, list):
                found.update(str(tag) for tag in tags)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((REPO / "roles" / role / "tasks").glob("*.yml")):
        walk(load(path))
    return found


def test_the_catalogue_has_controls():
    assert controls(), "controls/catalogue.yml lists no control"


@pytest.mark.parametrize("control", controls(), ids=lambda control: control.get("id", "?"))
def test_every_control_is_complete(control):
    missing = [field for field in REQUIRED_FIELDS if not control.get(field)]
    assert not missing, f"missing fields: {missing}"
    assert ID_PATTERN.match(control["id"]), control["id"]
    assert control["tag"] == control["id"].lower()
    assert isinstance(control["ens"], list)
    for measure in control["ens"]:
        assert ENS_PATTERN.match(measure), measure
    assert (REPO / "roles" / control["role"] / "tasks").is_dir(), control["role"]
    assert (REPO / control["tests"]).is_file(), control["tests"]


@pytest.mark.parametrize("control", controls(), ids=lambda control: control.get("id", "?"))
def test_every_control_names_its_cis_item_or_says_why_not(control):
    assert "cis" in control, "no cis field (null when the benchmark has no item)"
    if control["cis"] is None:
        note = control.get("cis_note")
        assert isinstance(note, str) and note.strip(), "cis is null without a cis_note"
    else:
        assert isinstance(control["cis"], str) and control["cis"].strip(), control["cis"]
        assert "cis_note" not in control, "cis_note is for a control whose cis is null"


def test_the_header_lists_every_control_without_cis():
    listed = header_without_cis()
    assert len(listed) == len(set(listed)), "an ID is listed twice"
    null = [control["id"] for control in controls() if control.get("cis", "") is None]
    assert sorted(listed) == sorted(null)


@pytest.mark.parametrize("control", controls(), ids=lambda control: control.get("id", "?"))
def test_every_ens_measure_of_a_control_is_described(control):
    described = ens_measures()
    unknown = [measure for measure in control["ens"] if measure not in described]
    assert not unknown, f"not in ens_measures: {unknown}"


@pytest.mark.parametrize("code", sorted(ens_measures()))
def test_every_ens_measure_has_a_name_and_a_category(code):
    measure = ens_measures()[code]
    assert ENS_PATTERN.match(code), code
    assert isinstance(measure, dict), measure
    assert str(measure.get("name") or "").strip(), "no name"
    assert measure.get("category") in ENS_CATEGORIES, measure.get("category")
    assert set(measure) <= {"name", "category", "note"}, sorted(measure)
    if "note" in measure:
        assert str(measure["note"] or "").strip(), "empty note"


def test_every_described_ens_measure_is_cited():
    cited = {measure for control in controls() for measure in control["ens"]}
    assert not set(ens_measures()) - cited


@pytest.mark.parametrize("control", controls(), ids=lambda control: control.get("id", "?"))
def test_every_control_says_where_it_is_audited(control):
    audit = control["audit"]
    assert isinstance(audit, list) and audit, audit
    assert len(audit) == len(set(audit)), audit
    unknown = [target for target in audit if target not in AUDIT_TARGETS]
    assert not unknown, f"unknown groups: {unknown}"


def test_control_ids_and_tags_are_unique():
    ids = [control.get("id") for control in controls()]
    tags = [control.get("tag") for control in controls()]
    assert len(ids) == len(set(ids))
    assert len(tags) == len(set(tags))


@pytest.mark.parametrize("control", controls(), ids=lambda control: control.get("id", "?"))
def test_every_control_is_proven_by_a_marked_test(control):
    markers = markers_by_file()
    proving = sorted(
        str(path.relative_to(REPO)) for path, ids in markers.items() if control["id"] in ids
    )
    assert proving, f"no test is marked @pytest.mark.control({control['id']!r})"
    assert control["tests"] in proving, f"{control['tests']} has no test marked for the control"


def test_every_marker_names_a_catalogued_control():
    known = control_ids()
    unknown = {
        f"{path.relative_to(REPO)}: {control_id}"
        for path, ids in markers_by_file().items()
        for control_id in ids
        if control_id not in known
    }
    assert not unknown


@pytest.mark.parametrize("control", controls(), ids=lambda control: control.get("id", "?"))
def test_every_control_tag_is_used_in_its_role_tasks(control):
    assert control["tag"] in task_tags(control["role"])


def test_every_waiver_names_a_known_control():
    waivers = load(WAIVERS).get("waivers") or []
    known = control_ids()
    for waiver in waivers:
        assert waiver.get("control") in known, waiver
        assert waiver.get("applies_to") in WAIVER_SCOPES, waiver
        assert str(waiver.get("reason") or "").strip(), waiver
    controls_waived = [waiver["control"] for waiver in waivers]
    assert len(controls_waived) == len(set(controls_waived)), "a control is waived twice"
