#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: many systemd units enabled and started (or not) in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_services
short_description: Enable, disable, start or stop many systemd units in one call
description:
  - Reads the state of every unit of O(services) with one C(systemctl show), then runs
    only what is needed, one C(systemctl) call per verb for all the units concerned, in
    this order; C(daemon-reload) (see O(daemon_reload)), C(disable), C(enable),
    C(stop), C(start). When nothing is to do, the C(systemctl show) is the only
    command. C(ansible.builtin.systemd_service) in a loop costs one module run per
    unit, and several commands each.
  - A unit whose file is not found (C(LoadState=not-found)), or cannot be loaded
    (C(bad-setting), C(error)), fails the module before any unit is enabled, disabled,
    started or stopped, naming it. So do contradicting wishes for one unit under two
    names (an alias and its unit).
  - The commands act on the unit's own name as systemd reports it (C(Id)), so an alias
    such as C(sshd.service) enables C(ssh.service) (systemd refuses to enable an
    alias). The results name the units as written in O(services).
  - O(services[].enabled) is about the next boot, the links of C(/etc/systemd/system).
    C(enabled) is enabled. C(disabled), C(enabled-runtime) (links in C(/run) only,
    gone at the next boot), C(linked), C(linked-runtime), C(indirect) and C(alias) are
    not; C(enable) makes them enabled, and C(disable) is not run for them (for a
    C(linked) unit it would remove the link that makes the unit known).
  - C(static), C(generated) and C(transient) units have no C([Install]) section that
    C(enable) could use; they start when another unit pulls them in. The module
    takes O(services[].enabled=true) as satisfied for them (as
    C(ansible.builtin.systemd_service) does), and fails for O(services[].enabled=false),
    which C(disable) cannot do (mask the unit, or stop it, instead).
  - A masked unit is not enabled; O(services[].enabled=true) or
    O(services[].state=started) on it fails (this module does not unmask).
  - O(services[].state=started) is satisfied when the unit is C(active), C(activating),
    C(reloading) or C(refreshing); O(services[].state=stopped) when it is C(inactive)
    or C(failed).
  - A C(failed) unit to start is reset first with C(systemctl reset-failed), since a
    unit that failed before (for example while its configuration was not yet written)
    may have hit its start limit, which would refuse the start.
options:
  services:
    description: The units, each with what is wanted of it.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Full unit name with its type, such as C(nginx.service), C(apt-daily.timer)
            or C(wg-quick@wg0.service). No pattern.
        type: str
        required: true
      enabled:
        description: Whether the unit starts at boot. Omitted, it is left as it is.
          O(services[].enabled) or O(services[].state) (or both) is required.
        type: bool
      state:
        description: Whether the unit runs now. Omitted, it is left as it is. Restarts
          and reloads are the handlers' business (C(ansible.builtin.systemd_service)).
        type: str
        choices: [started, stopped]
  daemon_reload:
    description:
      - Run C(systemctl daemon-reload) first when one of the units changed on disk
        since systemd read it (its C(NeedDaemonReload) is C(yes); a unit file or a
        drop-in was added or changed). Not run when no unit of O(services) needs it.
      - When false and a unit needs it, the module warns (systemd would start the unit
        as it was before the change).
    type: bool
    default: false
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only C(systemctl show) runs; the results list what would be done.
  diff_mode:
    support: full
    details: Each unit that changes, with its C(UnitFileState) and C(ActiveState).
notes:
  - Supports check mode and diff mode. In check mode only C(systemctl show) runs; the
    results list what would be done. The diff shows each unit that changes, as its
    name, C(UnitFileState) and C(ActiveState).
  - A unit that stays C(indirect) after C(enable) (one with only C(Also=) in its
    C([Install]) section) is enabled again at every run and always reported changed;
    name the units of its C(Also=) instead.
  - A unit that is C(inactive) again right after starting (a C(oneshot) service without
    C(RemainAfterExit=yes)) is started at every run.
  - Masking, restarting, reloading and user units (C(--user)) are not managed.
requirements:
  - systemd as the init system of the host.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Keep the daily apt timers and the unattended-upgrades helper running
  teletreball_services:
    services:
      - name: apt-daily.timer
        enabled: true
        state: started
      - name: apt-daily-upgrade.timer
        enabled: true
        state: started
      - name: unattended-upgrades.service
        enabled: true
        state: started

- name: Start the WireGuard interface, with its new drop-in
  teletreball_services:
    services:
      - name: wg-quick@wg0.service
        enabled: true
        state: started
    daemon_reload: true
"""

RETURN = r"""
enabled:
  description: Units enabled (or that would be, in check mode), as named in O(services).
  returned: always
  type: list
  elements: str
  sample: [apt-daily.timer]
disabled:
  description: Units disabled (or that would be).
  returned: always
  type: list
  elements: str
started:
  description: Units started (or that would be).
  returned: always
  type: list
  elements: str
stopped:
  description: Units stopped (or that would be).
  returned: always
  type: list
  elements: str
daemon_reloaded:
  description: Whether C(systemctl daemon-reload) ran (or would run).
  returned: always
  type: bool
units:
  description: What C(systemctl show) said of each unit before any start or stop
    (after the C(daemon-reload), if one ran), by name as written in O(services).
  returned: when the units were read
  type: dict
  sample:
    apt-daily.timer:
      Id: apt-daily.timer
      LoadState: loaded
      UnitFileState: enabled
      ActiveState: active
      NeedDaemonReload: "no"
"""

import re

from ansible.module_utils.basic import AnsibleModule

UNIT_RE = re.compile(
    r"^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?"
    r"\.(service|socket|target|device|mount|automount|swap|timer|path|slice|scope)$"
)
PROPERTIES = ("Id", "LoadState", "UnitFileState", "ActiveState", "NeedDaemonReload")
RUNNING = frozenset({"active", "activating", "reloading", "refreshing"})
STOPPED = frozenset({"inactive", "failed"})
ENABLED = frozenset({"enabled"})
# Not enabled for the next boot: enable makes them enabled; disable is not run.
NOT_ENABLED = frozenset(
    {"disabled", "enabled-runtime", "linked", "linked-runtime", "indirect", "alias"}
)
# No [Install] section to use: enabled=true is satisfied, enabled=false cannot be done.
NOT_INSTALLABLE = frozenset({"static", "generated", "transient"})
MASKED = frozenset({"masked", "masked-runtime"})
UNLOADABLE = frozenset({"bad-setting", "error"})


class Problem(Exception):
    pass


def check_services(services):
    """Every problem of the arguments at once, as a Problem."""
    problems, seen = [], set()
    for item in services:
        name = item["name"]
        if len(name) > 255 or not UNIT_RE.fullmatch(name):
            problems.append(f"'{name}' is not a systemd unit name with its type "
                            "(such as nginx.service).")
        if name in seen:
            problems.append(f"'{name}' is listed twice.")
        seen.add(name)
        if item["enabled"] is None and item["state"] is None:
            problems.append(f"'{name}' has neither enabled nor state.")
    if problems:
        raise Problem(" ".join(problems))


def parse_show(out):
    """The blocks of ``systemctl show`` (blank-line separated, in the order of the units
    asked), each as a dict of its properties; a property not printed is empty."""
    blocks, current = [], None
    for line in out.splitlines():
        if not line.strip():
            current = None
            continue
        if current is None:
            current = dict.fromkeys(PROPERTIES, "")
            blocks.append(current)
        key, _, value = line.partition("=")
        current[key] = value
    return blocks


def plan_unit(name, props, item):
    """What to do for one unit: a set of verbs among enable, disable, start, stop."""
    load, file_state, active = props["LoadState"], props["UnitFileState"], props["ActiveState"]
    if load == "not-found":
        raise Problem(f"unit {name} is not found on this host (no unit file).")
    if load in UNLOADABLE:
        raise Problem(f"unit {name} cannot be loaded (LoadState={load}); "
                      f"see systemctl status {name}.")
    masked = load == "masked" or file_state in MASKED
    verbs = set()
    if item["enabled"] is True:
        if masked:
            raise Problem(f"unit {name} is masked: it cannot be enabled (unmask it first).")
        if file_state in NOT_ENABLED:
            verbs.add("enable")
        elif file_state not in ENABLED | NOT_INSTALLABLE:
            raise Problem(f"unit {name} cannot be enabled (UnitFileState={file_state or 'none'}).")
    elif item["enabled"] is False and not masked:
        if file_state in NOT_INSTALLABLE:
            raise Problem(f"unit {name} is {file_state}: it has no [Install] section, "
                          "disable cannot keep it from starting (mask or stop it instead).")
        if file_state in ENABLED:
            verbs.add("disable")
        elif file_state not in NOT_ENABLED:
            raise Problem(f"unit {name} cannot be disabled "
                          f"(UnitFileState={file_state or 'none'}).")
    if item["state"] == "started":
        if masked:
            raise Problem(f"unit {name} is masked: it cannot be started (unmask it first).")
        if active not in RUNNING:
            verbs.add("start")
    elif item["state"] == "stopped" and active not in STOPPED:
        verbs.add("stop")
    return verbs


def describe(props):
    return f"{props['UnitFileState'] or props['LoadState']}, {props['ActiveState']}"


class Services:
    ORDER = ("disable", "enable", "stop", "start")
    DONE = {"disable": "disabled", "enable": "enabled", "stop": "stopped", "start": "started"}

    def __init__(self, module):
        self.module = module
        self.services = module.params["services"]
        self.names = [item["name"] for item in self.services]
        self.systemctl = module.get_bin_path("systemctl", required=True)
        self.result = {"changed": False, "daemon_reloaded": False, "enabled": [],
                       "disabled": [], "started": [], "stopped": []}

    def fail(self, msg):
        done = [f"{key} {', '.join(self.result[key])}"
                for key in ("enabled", "disabled", "stopped", "started") if self.result[key]]
        if self.result["daemon_reloaded"]:
            done.insert(0, "systemd reloaded")
        if done and not self.module.check_mode:
            msg += f" Already done in this call: {'; '.join(done)}."
        self.module.fail_json(msg=msg, **self.result)

    def systemctl_run(self, *args):
        return self.module.run_command([self.systemctl, *args], expand_user_and_vars=False,
                                       environ_update={"LC_ALL": "C.UTF-8"})

    def read(self):
        """The properties of every unit, by name as given."""
        rc, out, err = self.systemctl_run("show", f"--property={','.join(PROPERTIES)}",
                                          "--", *self.names)
        if rc != 0:
            self.fail(f"systemctl show failed (exit {rc}): {(err or out).strip()}")
        blocks = parse_show(out)
        if len(blocks) != len(self.names):
            self.fail(f"systemctl show printed {len(blocks)} units for the "
                      f"{len(self.names)} asked ({', '.join(self.names)}).")
        units = dict(zip(self.names, blocks, strict=True))
        self.result["units"] = units
        return units

    def main(self):
        units = self.read()
        stale = [name for name, props in units.items() if props["NeedDaemonReload"] == "yes"]
        before, after = [], []
        if stale and self.module.params["daemon_reload"]:
            self.result.update(changed=True, daemon_reloaded=True)
            before.append(f"systemd: {', '.join(stale)} changed on disk\n")
            after.append("systemd: reloaded\n")
            if not self.module.check_mode:
                rc, out, err = self.systemctl_run("daemon-reload")
                if rc != 0:
                    self.result["daemon_reloaded"] = False
                    self.fail(f"systemctl daemon-reload failed (exit {rc}): "
                              f"{(err or out).strip()}")
                units = self.read()
        elif stale:
            self.module.warn(
                f"{', '.join(stale)} changed on disk since systemd read them; systemd uses "
                "the old definition until daemon-reload (daemon_reload: true)."
            )

        todo = {verb: {} for verb in self.ORDER}  # verb -> {Id: [names]}
        problems = []
        wishes = {}  # (Id, enabled or state) -> (name, value)
        failed = set()  # units to start that failed before (maybe past their start limit)
        for item in self.services:
            name, props = item["name"], units[item["name"]]
            for key in ("enabled", "state"):
                if item[key] is None:
                    continue
                other, value = wishes.setdefault((props["Id"], key), (name, item[key]))
                if value != item[key]:
                    problems.append(f"{other} and {name} are the same unit {props['Id']}, "
                                    f"with different {key} values.")
            try:
                verbs = plan_unit(name, props, item)
            except Problem as exc:
                problems.append(str(exc))
                continue
            for verb in verbs:
                todo[verb].setdefault(props["Id"] or name, []).append(name)
            if "start" in verbs and props["ActiveState"] == "failed":
                failed.add(props["Id"] or name)
            if verbs:
                new = dict(props)
                if verbs & {"enable", "disable"}:
                    new["UnitFileState"] = "enabled" if "enable" in verbs else "disabled"
                if verbs & {"start", "stop"}:
                    new["ActiveState"] = "active" if "start" in verbs else "inactive"
                before.append(f"{name}: {describe(props)}\n")
                after.append(f"{name}: {describe(new)}\n")
        if problems:
            self.fail(" ".join(problems))

        if self.module._diff:
            self.result["diff"] = {"before": "".join(before), "after": "".join(after)}
        for verb in self.ORDER:
            if not todo[verb]:
                continue
            self.result["changed"] = True
            if verb == "start" and failed and not self.module.check_mode:
                # A unit that failed may have hit its start limit, which would
                # refuse this start: its failure is forgotten first.
                rc, out, err = self.systemctl_run("reset-failed", "--", *sorted(failed))
                if rc != 0:
                    self.fail(f"systemctl reset-failed {' '.join(sorted(failed))} failed "
                              f"(exit {rc}): {(err or out).strip()}")
            if not self.module.check_mode:
                rc, out, err = self.systemctl_run(verb, "--", *todo[verb])
                if rc != 0:
                    self.fail(f"systemctl {verb} {' '.join(todo[verb])} failed (exit {rc}): "
                              f"{(err or out).strip()}")
            for names in todo[verb].values():
                self.result[self.DONE[verb]].extend(names)
        self.module.exit_json(**self.result)


def main():
    module = AnsibleModule(
        argument_spec={
            "services": {
                "type": "list", "elements": "dict", "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "enabled": {"type": "bool"},
                    "state": {"type": "str", "choices": ["started", "stopped"]},
                },
            },
            "daemon_reload": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        check_services(module.params["services"])
    except Problem as exc:
        module.fail_json(msg=f"teletreball_services: {exc}", changed=False,
                         daemon_reloaded=False, enabled=[], disabled=[], started=[], stopped=[])
    if not module.params["services"]:
        module.exit_json(changed=False, daemon_reloaded=False, enabled=[], disabled=[],
                         started=[], stopped=[])
    Services(module).main()


if __name__ == "__main__":
    main()
