"""Render controls/catalogue.yml and controls/waivers.yml as docs/controls.md.

Usage: python harness/controls_doc.py [--check]
With --check, exit 1 (and write nothing) when docs/controls.md is out of date;
tests/unit/test_controls_doc.py runs that check in `make check`.
"""

from __future__ import annotations

import pathlib
import sys

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
CATALOGUE = REPO / "controls" / "catalogue.yml"
WAIVERS = REPO / "controls" / "waivers.yml"
OUTPUT = REPO / "docs" / "controls.md"


def cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def cis_cell(control: dict) -> str:
    """The CIS Debian 13 item(s), or (in italics) why there is none."""
    if control.get("cis") is None:
        return "*" + cell(control.get("cis_note") or "no CIS item, no reason given") + "*"
    return cell(control["cis"])


def ens_cell(codes: list[str], measures: dict) -> str:
    """Each ENS measure with the lowest category that applies it."""
    shown = []
    for code in codes:
        category = (measures.get(code) or {}).get("category")
        shown.append(f"{code} ({category})" if category else code)
    return ", ".join(shown)


def waiver_cell(waiver: dict | None) -> str:
    """The reason of a waiver, its approver and its expiry date when it has them."""
    if not waiver:
        return "no"
    text = cell(waiver.get("reason", ""))
    if waiver.get("approved_by"):
        text += f" Approved by {cell(waiver['approved_by'])}."
    if waiver.get("expires"):
        # YAML reads an ISO date as a date; str() writes it back as YYYY-MM-DD.
        text += f" Expires {cell(waiver['expires'])}."
    return text


def render() -> str:
    catalogue = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    controls = catalogue["controls"]
    measures = catalogue.get("ens_measures") or {}
    waivers = yaml.safe_load(WAIVERS.read_text(encoding="utf-8")).get("waivers", []) or []
    waived = {entry["control"]: entry for entry in waivers}
    lines = [
        "# Hardening controls",
        "",
        "Generated from `controls/catalogue.yml` and `controls/waivers.yml` by",
        "`make controls-doc`; do not edit by hand. Apply one control alone with",
        "`ansible-playbook -i inventories/<council> playbooks/site.yml --tags <tag>`.",
        "The header of the catalogue says where the CIS numbers and the ENS categories were read.",
        "",
        "CIS: item(s) of the CIS Debian Linux 13 Benchmark v1.0.0, or in italics why",
        "there is none. ENS: measures of RD 311/2022 (anexo II), each with the lowest system",
        "category at which it applies. Audited on: the inventory groups (or the",
        "controller) where `playbooks/audit.yml` evaluates the control.",
        "",
        "## Evidence from the council's hosts",
        "",
        "`ansible-playbook -i inventories/<council> playbooks/audit.yml` checks every",
        "control below live on the hosts it applies to, read-only, with the same check",
        "definitions the tests assert (`module_utils/teletreball_checks_*.py`), and writes",
        "`reports/<inventory>/<UTC date-time>/`: `index.html` (below, the lab's), `print.html`",
        "and `report.json`. It exits non-zero when a control fails on any host. How often",
        "to run it and how to hand a report to an auditor: docs/operations.md, \"The audit\".",
        "",
        "![The audit's report of the lab: a summary per host and per ENS measure, then "
        "every control with its evidence](images/audit-report.png)",
        "",
        "A control broken by hand on one host (root may log in over SSH on tt-vdi1, through",
        "a `Match` block in a drop-in): FAIL on that host, with the line that shows it.",
        "",
        "![The same report with BL-SSH-02 failing on tt-vdi1: the failed requirement, "
        "its evidence line and the command it comes from](images/audit-report-fail.png)",
        "",
        "## Catalogue",
        "",
        "| ID | Control | Tag | CIS Debian Linux 13 v1.0.0 | ENS (RD 311/2022) | Audited on "
        "| Test | Waived in containers |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for control in controls:
        lines.append(
            "| {id} | {title} | `{tag}` | {cis} | {ens} | {audit} | `{tests}` | {waiver} |".format(
                id=control["id"],
                title=cell(control["title"]),
                tag=control["tag"],
                cis=cis_cell(control),
                ens=ens_cell(control["ens"], measures),
                audit=", ".join(f"`{target}`" for target in control.get("audit") or []),
                tests=control["tests"],
                waiver=waiver_cell(waived.get(control["id"])),
            )
        )
    lines += [
        "",
        "## ENS measures",
        "",
        "Category: the lowest system category at which RD 311/2022 applies the",
        "measure; the note says which reinforcements higher categories add.",
        "",
        "| Measure | Name | Category | Note | Controls |",
        "| --- | --- | --- | --- | --- |",
    ]
    for code, measure in measures.items():
        citing = [control["id"] for control in controls if code in control["ens"]]
        lines.append(
            "| {code} | {name} | {category} | {note} | {controls} |".format(
                code=code,
                name=cell(measure.get("name", "")),
                category=cell(measure.get("category", "")),
                note=cell(measure.get("note", "")),
                controls=", ".join(citing),
            )
        )
    lines += ["", "## What each control does", ""]
    for control in controls:
        lines.append(f"- **{control['id']}** {cell(control['description'])}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print("docs/controls.md is out of date: run `make controls-doc`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
