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


def render() -> str:
    controls = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))["controls"]
    waivers = yaml.safe_load(WAIVERS.read_text(encoding="utf-8")).get("waivers", []) or []
    waived = {entry["control"]: entry for entry in waivers}
    lines = [
        "# Hardening controls",
        "",
        "Generated from `controls/catalogue.yml` and `controls/waivers.yml` by",
        "`make controls-doc`; do not edit by hand. Apply one control alone with",
        "`ansible-playbook playbooks/site.yml --tags <tag>`.",
        "",
        "| ID | Control | Tag | CIS Debian Linux 12 | ENS (RD 311/2022) | Test "
        "| Waived in containers |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for control in controls:
        waiver = waived.get(control["id"])
        lines.append(
            "| {id} | {title} | `{tag}` | {cis} | {ens} | `{tests}` | {waiver} |".format(
                id=control["id"],
                title=cell(control["title"]),
                tag=control["tag"],
                cis=cell(control["cis"]),
                ens=", ".join(control["ens"]),
                tests=control["tests"],
                waiver=cell(waiver["reason"]) if waiver else "no",
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
