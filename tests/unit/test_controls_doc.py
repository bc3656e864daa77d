"""docs/controls.md must match the controls catalogue it is generated from, and
show each control's CIS item (or why none), ENS categories, audit targets and waiver."""

from __future__ import annotations

import datetime
import importlib.util
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "harness" / "controls_doc.py"


def load_module():
    spec = importlib.util.spec_from_file_location("controls_doc", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_controls_doc_is_current():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_a_control_without_cis_item_shows_its_note():
    doc = load_module()
    control = {"cis": None, "cis_note": "no CIS item: application-level control (Asterisk)"}
    assert doc.cis_cell(control) == "*no CIS item: application-level control (Asterisk)*"
    assert doc.cis_cell({"cis": "5.1.21 Ensure sshd PermitRootLogin is disabled"}) == (
        "5.1.21 Ensure sshd PermitRootLogin is disabled"
    )


def test_each_ens_measure_shows_its_category():
    doc = load_module()
    measures = {
        "op.acc.6": {"name": "x", "category": "básica"},
        "mp.eq.2": {"name": "y", "category": "media"},
    }
    assert doc.ens_cell(["op.acc.6", "mp.eq.2"], measures) == "op.acc.6 (básica), mp.eq.2 (media)"


def test_a_waiver_shows_its_approver_and_expiry_when_it_has_them():
    doc = load_module()
    assert doc.waiver_cell(None) == "no"
    assert doc.waiver_cell({"reason": "no kernel audit"}) == "no kernel audit"
    full = {
        "reason": "no kernel audit",
        "approved_by": "CISO",
        "expires": datetime.date(2027, 3, 31),
    }
    assert doc.waiver_cell(full) == "no kernel audit Approved by CISO. Expires 2027-03-31."


def test_the_document_has_the_table_of_ens_measures():
    text = load_module().render()
    assert "## ENS measures" in text
    assert "| Measure | Name | Category | Note | Controls |" in text
    assert "Mecanismo de autenticación (usuarios de la organización)" in text
