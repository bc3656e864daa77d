"""Pytest plugin shared by every Testinfra suite of teletreball.

Loaded by the Molecule verifier (``-p teletreball_testinfra``). It gives:

* the ``control`` marker: ``@pytest.mark.control("BL-SSH-01")`` ties a test to
  an entry of ``controls/catalogue.yml`` (checked by tests/unit);
* the ``waive`` fixture: ``waive("BL-SYS-02")`` skips the test, printing the
  reason from ``controls/waivers.yml``, when the waiver applies to this host
  (today: the host is a container). A waived control is reported, never passed;
* the ``control_check`` fixture: ``control_check("BL-SSH-02", params)`` runs the
  control's live check (module_utils/teletreball_checks_*.py, the one
  ``playbooks/audit.yml`` runs on real hosts) on ``host`` through Testinfra and
  fails with the requirement and the evidence line that did not hold;
* on a failed test, the last lines of the host's journal in the report.
"""

from __future__ import annotations

import datetime
import functools
import importlib.util
import pathlib
import sys

import pytest
import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
WAIVERS_FILE = REPO_ROOT / "controls" / "waivers.yml"
MODULE_UTILS = REPO_ROOT / "module_utils"
JOURNAL_LINES = 150


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "control(control_id): the hardening control this test proves"
    )


@functools.cache
def load_waivers() -> dict[str, dict]:
    """Return the waivers keyed by control ID."""
    data = yaml.safe_load(WAIVERS_FILE.read_text(encoding="utf-8")) or {}
    return {entry["control"]: entry for entry in data.get("waivers", [])}


def host_is_container(host) -> bool:
    result = host.run("systemd-detect-virt --container")
    return result.rc == 0 and result.stdout.strip() not in ("", "none")


@pytest.fixture
def waive(host):
    """Skip the calling test with the waiver's reason when it applies here."""

    def _waive(control_id: str) -> None:
        waiver = load_waivers().get(control_id)
        if waiver is None:
            return
        if waiver.get("applies_to") == "container" and not host_is_container(host):
            return
        expires = datetime.date.fromisoformat(str(waiver.get("expires")))
        if expires < datetime.datetime.now(datetime.UTC).date():
            pytest.fail(f"the waiver of {control_id} expired on {expires}: review it "
                        "(controls/waivers.yml), as the audit reports it FAIL")
        pytest.skip(f"WAIVED {control_id} (approved by {waiver['approved_by']}, until "
                    f"{expires}): {waiver['reason']}")

    return _waive


def load_repo_module(name, path):
    """A Python file of the repository (a module_utils or filter plugin file the tests
    reuse), loaded once as ``name`` in sys.modules."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def scenario_group_vars(group="all"):
    """The group_vars of ``group`` in the running scenario's molecule.yml (its inventory)."""
    import os

    scenario = pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    config = yaml.safe_load((scenario / "molecule.yml").read_text(encoding="utf-8"))
    return config["provisioner"]["inventory"]["group_vars"].get(group, {})


@functools.cache
def audit_checks():
    """module_utils/teletreball_audit.py with every teletreball_checks_* module loaded,
    imported the way Ansible ships them to a host (as ansible.module_utils.<name>): the
    other module_utils files first, since the checks import them."""
    for path in sorted(MODULE_UTILS.glob("*.py"),
                       key=lambda path: (path.stem.startswith("teletreball_checks_"), path.stem)):
        load_repo_module(f"ansible.module_utils.{path.stem}", path)
    return sys.modules["ansible.module_utils.teletreball_audit"]


class TestinfraProbe:
    """The probe of the live checks, through Testinfra's host (see teletreball_audit)."""

    def __init__(self, host):
        self.host = host
        self.audit = audit_checks()

    def run(self, argv):
        import shlex

        result = self.host.run("LC_ALL=C.UTF-8 SYSTEMD_COLORS=0 " + shlex.join(argv))
        return self.audit.Result(result.rc, result.stdout, result.stderr)

    def read(self, path):
        import shlex

        result = self.host.run("cat -- " + shlex.quote(path))
        return result.stdout if result.rc == 0 else None


@pytest.fixture
def control_check(host, waive):
    """Run a control's live check on ``host``; fail on what does not hold.

    A requirement the check marks waivable that fails is skipped through ``waive``
    when a waiver applies here (a container); every other requirement must hold.
    Returns the outcome (its findings and evidence) for further assertions.
    """

    def _check(control_id: str, params: dict | None = None, on=None) -> dict:
        """``on``: another Testinfra host of the scenario than the test's ``host``."""
        audit = audit_checks()
        outcome = audit.evaluate(control_id, TestinfraProbe(on or host), params)
        if audit.only_waivable_failed(outcome):
            waive(control_id)
        assert outcome["status"] == audit.PASS, audit.explain(outcome)
        return outcome

    return _check


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        host = item.funcargs.get("host")
        if host is not None:
            try:
                journal = host.run(
                    f"journalctl --no-pager --boot --lines {JOURNAL_LINES} --output short-precise"
                ).stdout
            except Exception as error:  # noqa: BLE001 - the report must not hide the failure
                journal = f"(could not read the journal: {error})"
            report.sections.append((f"journal of {host.backend.get_hostname()}", journal))
    return report


def wait_for(predicate, timeout: float = 30, step: float = 1.0):
    """Call ``predicate`` every ``step`` seconds until it returns something true
    or ``timeout`` seconds have passed; return its last value."""
    import time

    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() > deadline:
            return value
        time.sleep(step)


def converge_command(*arguments: str, inventory=None, playbook=None):
    """(command, environment, summary file) of a run of the scenario's converge.yml
    the way Molecule runs it (see run_converge)."""
    import os
    import sys

    ephemeral = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    summary = ephemeral / "test-run-summary.json"
    summary.unlink(missing_ok=True)
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(REPO_ROOT / "roles"),
        "ANSIBLE_LIBRARY": str(REPO_ROOT / "library"),
        "ANSIBLE_MODULE_UTILS": str(REPO_ROOT / "module_utils"),
        "ANSIBLE_FILTER_PLUGINS": str(REPO_ROOT / "filter_plugins"),
        "ANSIBLE_CALLBACK_PLUGINS": (f"{REPO_ROOT / 'callback_plugins'}:"
                                     f"{REPO_ROOT / 'harness' / 'callback_plugins'}"),
        "ANSIBLE_CALLBACKS_ENABLED": "teletreball_summary",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PYTHONUNBUFFERED": "1",
        "TT_RUN_SUMMARY": str(summary),
    })
    command = [
        str(pathlib.Path(sys.executable).parent / "ansible-playbook"),
        "--inventory", str(inventory or os.environ["MOLECULE_INVENTORY_FILE"]),
        *arguments,
        str(playbook or pathlib.Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"),
    ]
    return command, env, summary


def run_converge(*arguments: str, timeout: int = 1200, inventory=None, playbook=None,
                 check=True):
    """Run the scenario's converge.yml again the way Molecule runs it.

    Same inventory, same Ansible settings as .config/molecule/config.yml; for
    tests that change the inventory (``--extra-vars``) and watch the effect.
    ``inventory`` and ``playbook`` replace Molecule's inventory and the
    scenario's converge.yml (the stack scenario runs playbooks/site.yml on
    inventories/lab). Returns the finished process (stdout and stderr as text)
    and the per-host stats written by the teletreball_summary callback. With
    ``check=False`` a failed run is returned too (its stats may be empty).
    """
    import json
    import subprocess

    command, env, summary = converge_command(*arguments, inventory=inventory, playbook=playbook)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                            check=False)
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-80:])
    name = pathlib.Path(playbook).name if playbook else "converge"
    assert result.returncode == 0 or not check, f"{name} {' '.join(arguments)} failed:\n{tail}"
    if not summary.exists():
        return result, {}
    stats = json.loads(summary.read_text(encoding="utf-8"))["hosts"]
    return result, stats


def kill_converge_at(line: str, *arguments: str, timeout: int = 1200):
    """Run the scenario's converge.yml as run_converge does and kill it (SIGKILL to the
    whole run, as a lost controller would end it) as soon as its output shows ``line``,
    for example the header of the task after a write: the handlers never run.
    Returns the output up to there; fails when the run ends before ``line``."""
    import os
    import signal
    import subprocess
    import time

    command, env, _ = converge_command(*arguments)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = []
    deadline = time.monotonic() + timeout
    try:
        for text in process.stdout:
            output.append(text)
            if line in text:
                os.killpg(process.pid, signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "the run did not reach: " + line
        else:
            raise AssertionError(f"the run ended before {line!r}:\n" + "".join(output[-80:]))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
    return "".join(output)


_MEASUREMENTS: list[str] = []


@pytest.fixture
def measurement():
    """Record a measured value; all are printed at the end of the test run."""

    def _record(line: str) -> None:
        _MEASUREMENTS.append(line)

    return _record


def pytest_terminal_summary(terminalreporter):
    if _MEASUREMENTS:
        terminalreporter.section("teletreball measurements")
        for line in _MEASUREMENTS:
            terminalreporter.write_line(line)
