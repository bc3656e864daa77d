"""Unit tests of the module teletreball_services: one systemctl show, then one call per verb.

No test runs systemd: run_command is a fake systemctl answering ``show`` from a table
of units (as systemd 257 prints them) and recording every command.
"""

from __future__ import annotations

import os

import pytest
from ansible.module_utils.basic import AnsibleModule
from module_runner import (
    collect_warnings,
    fake_bin_paths,
    load_library_module,
    refuse_commands,
    run_main,
)

PROPERTIES = "--property=Id,LoadState,UnitFileState,ActiveState,NeedDaemonReload"

# systemctl show prints the properties in its own order, not the order asked.
SHOW_OUTPUT = """\
Id=nginx.service
NeedDaemonReload=no
ActiveState=active
LoadState=loaded
UnitFileState=enabled

Id=ssh.service
NeedDaemonReload=yes
ActiveState=inactive
LoadState=loaded
UnitFileState=disabled

Id=nope.service
NeedDaemonReload=no
ActiveState=inactive
LoadState=not-found
UnitFileState=
"""


def unit(unit_id, file_state="enabled", active="active", load="loaded", reload="no"):
    return {"Id": unit_id, "LoadState": load, "UnitFileState": file_state,
            "ActiveState": active, "NeedDaemonReload": reload}


class FakeSystemctl:
    """``units``: name -> properties; an alias is a name whose Id is another unit.
    Verbs change the units they name; ``fail`` maps a verb to (rc, stderr)."""

    def __init__(self, units, fail=None):
        self.units = units
        self.fail = fail or {}
        self.calls = []

    def __call__(self, argv, expand_user_and_vars=True, **kwargs):
        assert expand_user_and_vars is False
        assert os.path.basename(argv[0]) == "systemctl", argv
        args = argv[1:]
        self.calls.append(" ".join(args))
        verb = args[0]
        if verb in self.fail:
            return self.fail[verb][0], "", self.fail[verb][1]
        if verb == "show":
            assert args[1] == PROPERTIES and args[2] == "--"
            return 0, "\n".join(self.block(name) for name in args[3:]), ""
        if verb == "daemon-reload":
            for props in self.units.values():
                props["NeedDaemonReload"] = "no"
            return 0, "", ""
        assert args[1] == "--", args
        field, value = {
            "enable": ("UnitFileState", "enabled"), "disable": ("UnitFileState", "disabled"),
            "start": ("ActiveState", "active"), "stop": ("ActiveState", "inactive"),
            "reset-failed": ("ActiveState", "inactive"),
        }[verb]
        for name in args[2:]:
            self.units[name][field] = value
        return 0, "", ""

    def block(self, name):
        props = self.units.get(name) or unit(name, "", "inactive", "not-found")
        if props["Id"] != name:  # an alias: systemd answers for the unit itself
            props = self.units[props["Id"]]
        return "".join(f"{key}={value}\n" for key, value in props.items())

    def actions(self):
        return [call for call in self.calls if not call.startswith("show ")]


@pytest.fixture(autouse=True)
def no_commands(monkeypatch):
    refuse_commands(monkeypatch)
    fake_bin_paths(monkeypatch)


@pytest.fixture
def warnings(monkeypatch):
    return collect_warnings(monkeypatch)


def run(args, capsys, monkeypatch, systemctl, check_mode=False):
    module = load_library_module("teletreball_services")
    monkeypatch.setattr(AnsibleModule, "run_command",
                        lambda self, argv, **kwargs: systemctl(argv, **kwargs))
    return run_main(module, args, capsys, check_mode)


def wanted(name, enabled=True, state="started"):
    return {"name": name, "enabled": enabled, "state": state}


def test_parse_show_reads_the_blocks_in_order():
    module = load_library_module("teletreball_services")
    blocks = module.parse_show(SHOW_OUTPUT)
    assert [block["Id"] for block in blocks] == ["nginx.service", "ssh.service", "nope.service"]
    assert blocks[0] == unit("nginx.service")
    assert blocks[1]["NeedDaemonReload"] == "yes" and blocks[1]["UnitFileState"] == "disabled"
    assert blocks[2]["LoadState"] == "not-found" and blocks[2]["UnitFileState"] == ""
    # A property systemd did not print is empty; no trailing newline is needed.
    assert module.parse_show("Id=a.timer\nActiveState=active")[0]["UnitFileState"] == ""


def test_nothing_to_do_is_one_systemctl_show(capsys, monkeypatch):
    systemctl = FakeSystemctl({
        "apt-daily.timer": unit("apt-daily.timer"),
        "apt-daily-upgrade.timer": unit("apt-daily-upgrade.timer"),
        "coturn.service": unit("coturn.service", "disabled", "inactive"),
    })
    result = run({"services": [
        wanted("apt-daily.timer"), wanted("apt-daily-upgrade.timer"),
        wanted("coturn.service", enabled=False, state="stopped"),
    ]}, capsys, monkeypatch, systemctl)
    assert result["rc"] == 0 and result["changed"] is False
    assert systemctl.calls == [f"show {PROPERTIES} -- apt-daily.timer apt-daily-upgrade.timer "
                               "coturn.service"]
    for key in ("enabled", "disabled", "started", "stopped"):
        assert result[key] == []
    assert result["daemon_reloaded"] is False
    assert result["units"]["coturn.service"]["UnitFileState"] == "disabled"
    assert result["diff"] == {"before": "", "after": ""}


def test_only_what_is_needed_is_enabled_and_started_in_one_call_each(capsys, monkeypatch):
    systemctl = FakeSystemctl({
        "nginx.service": unit("nginx.service"),
        "prosody.service": unit("prosody.service", "disabled", "inactive"),
        "jicofo.service": unit("jicofo.service", "enabled", "failed"),
        "coturn.service": unit("coturn.service", "disabled", "activating"),
    })
    names = ["nginx.service", "prosody.service", "jicofo.service", "coturn.service"]
    result = run({"services": [wanted(name) for name in names]}, capsys, monkeypatch, systemctl)
    assert result["rc"] == 0 and result["changed"] is True
    # jicofo failed before (perhaps past its start limit): forgotten, then started.
    assert systemctl.actions() == [
        "enable -- prosody.service coturn.service",
        "reset-failed -- jicofo.service",
        "start -- prosody.service jicofo.service",
    ]
    assert result["enabled"] == ["prosody.service", "coturn.service"]
    assert result["started"] == ["prosody.service", "jicofo.service"]
    assert result["disabled"] == result["stopped"] == []
    assert result["diff"]["before"] == (
        "prosody.service: disabled, inactive\n"
        "jicofo.service: enabled, failed\n"
        "coturn.service: disabled, activating\n"
    )
    assert result["diff"]["after"] == (
        "prosody.service: enabled, active\n"
        "jicofo.service: enabled, active\n"
        "coturn.service: enabled, activating\n"
    )

    again = run({"services": [wanted(name) for name in names]}, capsys, monkeypatch, systemctl)
    assert again["changed"] is False and systemctl.calls[-1].startswith("show ")


def test_disable_and_stop_in_that_order_and_omitted_settings_left_alone(capsys, monkeypatch):
    systemctl = FakeSystemctl({
        "coturn.service": unit("coturn.service"),
        "nginx.service": unit("nginx.service", "disabled", "active"),
        "exim4.service": unit("exim4.service", "enabled", "inactive"),
    })
    result = run({"services": [
        wanted("coturn.service", enabled=False, state="stopped"),
        {"name": "nginx.service", "state": "stopped"},
        {"name": "exim4.service", "enabled": False},
    ]}, capsys, monkeypatch, systemctl)
    assert systemctl.actions() == [
        "disable -- coturn.service exim4.service",
        "stop -- coturn.service nginx.service",
    ]
    assert result["disabled"] == ["coturn.service", "exim4.service"]
    assert result["stopped"] == ["coturn.service", "nginx.service"]


def test_daemon_reload_runs_only_when_a_unit_needs_it(capsys, monkeypatch, warnings):
    units = {"wg-quick@wg0.service": unit("wg-quick@wg0.service"),
             "nginx.service": unit("nginx.service")}
    services = [wanted("wg-quick@wg0.service"), wanted("nginx.service")]

    fresh = FakeSystemctl(units)
    result = run({"services": services, "daemon_reload": True}, capsys, monkeypatch, fresh)
    assert result["changed"] is False and result["daemon_reloaded"] is False
    assert fresh.actions() == []

    units["wg-quick@wg0.service"]["NeedDaemonReload"] = "yes"
    stale = FakeSystemctl(units)
    result = run({"services": services, "daemon_reload": True}, capsys, monkeypatch, stale)
    assert result["changed"] is True and result["daemon_reloaded"] is True
    # Read again after the reload: the unit may have changed.
    assert [call.split()[0] for call in stale.calls] == ["show", "daemon-reload", "show"]
    assert result["units"]["wg-quick@wg0.service"]["NeedDaemonReload"] == "no"
    assert "wg-quick@wg0.service changed on disk" in result["diff"]["before"]
    assert warnings == []


def test_a_unit_changed_on_disk_without_daemon_reload_is_a_warning(
    capsys, monkeypatch, warnings
):
    systemctl = FakeSystemctl({"nginx.service": unit("nginx.service", reload="yes")})
    result = run({"services": [wanted("nginx.service")]}, capsys, monkeypatch, systemctl)
    assert result["changed"] is False and systemctl.actions() == []
    assert "nginx.service changed on disk" in warnings[0]


def test_an_unknown_unit_fails_naming_it_before_anything_is_done(capsys, monkeypatch):
    systemctl = FakeSystemctl({"nginx.service": unit("nginx.service", "disabled", "inactive")})
    result = run({"services": [wanted("nginx.service"), wanted("cotrun.service")]},
                 capsys, monkeypatch, systemctl)
    assert result["failed"] is True and result["changed"] is False
    assert "unit cotrun.service is not found on this host" in result["msg"]
    assert systemctl.actions() == []


def test_check_mode_reads_and_reports_only(capsys, monkeypatch):
    units = {"nginx.service": unit("nginx.service", "disabled", "inactive", reload="yes"),
             "coturn.service": unit("coturn.service")}
    systemctl = FakeSystemctl(units)
    result = run({"services": [wanted("nginx.service"),
                               wanted("coturn.service", enabled=False, state="stopped")],
                  "daemon_reload": True}, capsys, monkeypatch, systemctl, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert [call.split()[0] for call in systemctl.calls] == ["show"]
    assert result["daemon_reloaded"] is True
    assert result["enabled"] == result["started"] == ["nginx.service"]
    assert result["disabled"] == result["stopped"] == ["coturn.service"]
    assert units["nginx.service"]["UnitFileState"] == "disabled"


@pytest.mark.parametrize(("file_state", "enabled", "action", "error"), [
    ("static", True, None, None),
    ("generated", True, None, None),
    ("static", False, None, "is static: it has no [Install] section"),
    ("indirect", True, "enable", None),
    ("indirect", False, None, None),
    ("enabled-runtime", True, "enable", None),
    ("linked", True, "enable", None),
    ("linked", False, None, None),   # disable would remove the link
    ("masked", False, None, None),
    ("masked", True, None, "is masked: it cannot be enabled"),
    ("bad", True, None, "cannot be enabled (UnitFileState=bad)"),
    ("", False, None, "cannot be disabled (UnitFileState=none)"),
])
def test_unit_file_states(capsys, monkeypatch, file_state, enabled, action, error):
    load = "masked" if file_state == "masked" else "loaded"
    systemctl = FakeSystemctl({"x.service": unit("x.service", file_state, "active", load)})
    result = run({"services": [{"name": "x.service", "enabled": enabled}]},
                 capsys, monkeypatch, systemctl)
    if error:
        assert result["failed"] is True and error in result["msg"]
        assert systemctl.actions() == []
    else:
        assert result["rc"] == 0
        assert systemctl.actions() == ([f"{action} -- x.service"] if action else [])


def test_a_masked_unit_cannot_be_started(capsys, monkeypatch):
    systemctl = FakeSystemctl({"x.service": unit("x.service", "masked", "inactive", "masked")})
    result = run({"services": [{"name": "x.service", "state": "started"}]},
                 capsys, monkeypatch, systemctl)
    assert result["failed"] is True and "masked: it cannot be started" in result["msg"]
    stopped = run({"services": [{"name": "x.service", "state": "stopped"}]},
                  capsys, monkeypatch, systemctl)
    assert stopped["rc"] == 0 and stopped["changed"] is False


def test_an_alias_acts_on_the_unit_itself_and_reports_the_alias(capsys, monkeypatch):
    systemctl = FakeSystemctl({
        "ssh.service": unit("ssh.service", "disabled", "inactive"),
        "sshd.service": unit("ssh.service"),  # an alias of ssh.service
    })
    result = run({"services": [wanted("sshd.service")]}, capsys, monkeypatch, systemctl)
    assert result["rc"] == 0
    assert systemctl.actions() == ["enable -- ssh.service", "start -- ssh.service"]
    assert result["enabled"] == result["started"] == ["sshd.service"]
    assert result["units"]["sshd.service"]["Id"] == "ssh.service"


def test_two_names_of_one_unit_asked_opposite_things_fail(capsys, monkeypatch):
    systemctl = FakeSystemctl({"ssh.service": unit("ssh.service", "disabled", "active"),
                               "sshd.service": unit("ssh.service")})
    result = run({"services": [wanted("sshd.service"),
                               {"name": "ssh.service", "state": "stopped"}]},
                 capsys, monkeypatch, systemctl)
    assert result["failed"] is True
    assert ("sshd.service and ssh.service are the same unit ssh.service, with different state"
            in result["msg"])
    assert systemctl.actions() == []


def test_a_failing_start_says_what_was_already_done(capsys, monkeypatch):
    systemctl = FakeSystemctl(
        {"coturn.service": unit("coturn.service", "disabled", "inactive")},
        fail={"start": (1, "Job for coturn.service failed because the control process "
                           "exited with error code.\n")},
    )
    result = run({"services": [wanted("coturn.service")]}, capsys, monkeypatch, systemctl)
    assert result["failed"] is True and result["changed"] is True
    assert "systemctl start coturn.service failed (exit 1): Job for coturn.service" in result["msg"]
    assert "Already done in this call: enabled coturn.service." in result["msg"]
    assert result["enabled"] == ["coturn.service"] and result["started"] == []


def test_a_failing_show_fails(capsys, monkeypatch):
    systemctl = FakeSystemctl({}, fail={"show": (1, "System has not been booted with systemd "
                                                    "as init system (PID 1). Can't operate.\n")})
    result = run({"services": [wanted("nginx.service")]}, capsys, monkeypatch, systemctl)
    assert result["failed"] is True and "has not been booted with systemd" in result["msg"]


def test_bad_arguments_are_reported_together_and_nothing_runs(capsys, monkeypatch):
    systemctl = FakeSystemctl({})
    result = run({"services": [
        wanted("nginx"), wanted("ngin*.service"), wanted("a b.service"),
        wanted("x.service"), wanted("x.service"), {"name": "y.timer"},
    ]}, capsys, monkeypatch, systemctl)
    assert result["failed"] is True and result["msg"].startswith("teletreball_services: ")
    for text in ("'nginx' is not a systemd unit name", "'ngin*.service'", "'a b.service'",
                 "'x.service' is listed twice", "'y.timer' has neither enabled nor state"):
        assert text in result["msg"]
    assert systemctl.calls == []
