"""library/teletreball_audit.py and module_utils/teletreball_audit.py: how a live check's
outcome is decided, and the module's error paths (a missing program, a command that hangs,
a broken check), run in-process with real commands of this machine."""

from __future__ import annotations

import pytest
from module_runner import load_library_module, register_module_utils, run_main

register_module_utils()

from ansible.module_utils import teletreball_audit as audit  # noqa: E402


@pytest.fixture(name="module")
def fixture_module():
    return load_library_module("teletreball_audit")


@pytest.fixture(name="checks")
def fixture_checks():
    """Register throw-away checks under test IDs, removed afterwards."""
    added = []

    def add(control_id, function):
        audit.control(control_id)(function)
        added.append(control_id)

    yield add
    for control_id in added:
        audit.CHECKS.pop(control_id, None)


def test_every_catalogued_check_is_registered_once_by_the_module(module):
    # Importing the module loads every teletreball_checks_* file; a second check for one
    # control would have raised.
    assert "BL-SSH-02" in audit.CHECKS
    with pytest.raises(ValueError, match="two checks for BL-SSH-02"):
        audit.control("BL-SSH-02")(lambda ctx: None)


def test_pass_fail_and_the_quoted_evidence(module, checks):
    probe = module.LocalProbe(timeout=10)

    def holds(ctx):
        ctx.expect(ctx.run("true").ok, "true succeeds", "rc 0")

    def breaks(ctx):
        result = ctx.run("sh", "-c", "echo PermitRootLogin yes")
        ctx.expect("no" in result.stdout, "root may not log in", result.stdout.strip())

    checks("TT-TEST-01", holds)
    checks("TT-TEST-02", breaks)
    passed = audit.evaluate("TT-TEST-01", probe)
    failed = audit.evaluate("TT-TEST-02", probe)
    assert passed["status"] == audit.PASS
    assert failed["status"] == audit.FAIL
    assert failed["findings"] == [{"ok": False, "requirement": "root may not log in",
                                   "evidence": "PermitRootLogin yes", "waivable": False}]
    assert failed["evidence"][0]["source"] == "$ sh -c 'echo PermitRootLogin yes'"
    assert "PermitRootLogin yes" in audit.explain(failed)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (lambda ctx: None, "the check stated no requirement"),
        (lambda ctx: ctx.output("false"), "false failed (exit 1)"),
        (lambda ctx: ctx.output("tt-no-such-program"), "command not found"),
        (lambda ctx: {}["missing"], "KeyError: 'missing'"),
    ],
    ids=["states-nothing", "command-fails", "program-missing", "check-raises"],
)
def test_a_check_that_cannot_look_is_an_error_never_a_pass(module, checks, body, error):
    checks("TT-TEST-03", body)
    outcome = audit.evaluate("TT-TEST-03", module.LocalProbe(timeout=10))
    assert outcome["status"] == audit.ERROR
    assert error in outcome["error"]


def test_a_hanging_command_is_stopped(module, checks):
    checks("TT-TEST-04", lambda ctx: ctx.output("sleep", "30"))
    outcome = audit.evaluate("TT-TEST-04", module.LocalProbe(timeout=1))
    assert outcome["status"] == audit.ERROR
    assert "stopped after 1 s" in outcome["error"]


def test_a_control_without_a_check_is_an_error(module):
    outcome = audit.evaluate("TT-NONE-99", module.LocalProbe(timeout=1))
    assert outcome == {"id": "TT-NONE-99", "status": audit.ERROR,
                       "error": "no live check is defined", "findings": [], "evidence": []}


def test_only_waivable_failures_can_be_waived(module, checks):
    def live_part_fails(ctx):
        ctx.expect(True, "configuration written", "file present")
        ctx.expect(False, "live value", "0", waivable=True)

    def both_fail(ctx):
        ctx.expect(False, "configuration written", "missing")
        ctx.expect(False, "live value", "0", waivable=True)

    checks("TT-TEST-05", live_part_fails)
    checks("TT-TEST-06", both_fail)
    probe = module.LocalProbe(timeout=1)
    assert audit.only_waivable_failed(audit.evaluate("TT-TEST-05", probe))
    assert not audit.only_waivable_failed(audit.evaluate("TT-TEST-06", probe))


def test_evidence_is_clipped(module, checks):
    checks("TT-TEST-07", lambda ctx: ctx.expect(ctx.run("seq", "1", "500").ok, "seq", "ok"))
    outcome = audit.evaluate("TT-TEST-07", module.LocalProbe(timeout=10))
    text = outcome["evidence"][0]["text"]
    assert text.splitlines()[-1] == f"... ({500 - audit.EVIDENCE_LINES} more lines)"


def test_the_module_reports_no_change_in_check_mode(module, checks, capsys):
    checks("TT-TEST-08", lambda ctx: ctx.expect(ctx.read("/etc/hostname") is not None,
                                                "hostname readable", "/etc/hostname"))
    result = run_main(module, {"controls": ["TT-TEST-08", "TT-NONE-99"]}, capsys,
                      check_mode=True)
    assert result["changed"] is False
    assert [outcome["status"] for outcome in result["results"]] == ["PASS", "ERROR"]
    assert set(result["host"]) == {"virtualization", "container"}
