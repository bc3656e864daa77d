#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: check controls of controls/catalogue.yml live on this host, read-only."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_audit
short_description: Check controls of the catalogue live on a host, changing nothing
description:
  - Runs the live check of each control in O(controls) on the host and returns, per
    control, PASS, FAIL or ERROR with the requirements it stated and the evidence it
    looked at (command output, effective settings, listening sockets, firewall rules).
  - The checks are defined once, in C(module_utils/teletreball_checks_*.py); the
    Testinfra suites of the Molecule scenarios run the same definitions.
  - A check only reads. It runs commands such as C(sshd -T), C(ss), C(nft list ruleset)
    and C(systemctl is-active), and reads files; it writes no file and starts, stops or
    reloads nothing.
  - Used by C(playbooks/audit.yml), which writes the report (M(teletreball_audit_report)).
options:
  controls:
    description: The IDs of the controls to check, such as C(BL-SSH-02). An ID with no
      live check is returned as ERROR.
    type: list
    elements: str
    required: true
  params:
    description: Values from the inventory that some checks compare with, such as the
      declared NTP servers. Each check documents the keys it reads.
    type: dict
    default: {}
  timeout:
    description: Seconds one command of a check may take before it is stopped and the
      control reported as ERROR.
    type: int
    default: 60
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads, so it runs the same in check mode.
  diff_mode:
    support: none
notes:
  - Never reports a change.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Check the controls of the baseline on this host
  teletreball_audit:
    controls: [BL-SSH-01, BL-SSH-02, BL-FW-01]
    params:
      ssh_max_auth_tries: 4
  register: _baseline_audit_result
"""

RETURN = r"""
results:
  description: One outcome per control, in the order of O(controls).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The control's ID.
      type: str
    status:
      description: PASS, FAIL or ERROR.
      type: str
    findings:
      description: Each requirement stated, with C(ok), C(requirement), C(evidence) (the
        line that shows it) and C(waivable).
      type: list
      elements: dict
    evidence:
      description: Each command run (C(source) C($ command)) or file read, with its exit
        code C(rc) and the first lines of its C(text).
      type: list
      elements: dict
    error:
      description: Why the check could not look, when status is ERROR.
      type: str
  sample:
    - id: BL-SSH-02
      status: PASS
      findings:
        - {ok: true, requirement: sshd refuses root, evidence: permitrootlogin no, waivable: false}
      evidence:
        - {source: "$ /usr/sbin/sshd -T -C user=root,host=audit,addr=192.0.2.1", rc: 0, text: "..."}
host:
  description: What the report needs to know of the host.
  returned: always
  type: dict
  contains:
    virtualization:
      description: C(none), or what systemd-detect-virt names (a container or a VM).
      type: str
    container:
      description: Whether the host is a container.
      type: bool
  sample: {virtualization: none, container: false}
"""

import os
import subprocess

from ansible.module_utils import (
    teletreball_checks_baseline,  # noqa: F401 - registers checks
    teletreball_checks_conference,  # noqa: F401 - registers checks
    teletreball_checks_logs,  # noqa: F401 - registers checks
    teletreball_checks_pbx,  # noqa: F401 - registers checks
    teletreball_checks_pki,  # noqa: F401 - registers checks
    teletreball_checks_vdi,  # noqa: F401 - registers checks
    teletreball_checks_vpn,  # noqa: F401 - registers checks
)
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_audit import Result, evaluate


class LocalProbe:
    """Runs the checks' commands on this host, with no shell and a C locale."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8", SYSTEMD_PAGER="",
                        SYSTEMD_COLORS="0")

    def run(self, argv):
        try:
            process = subprocess.run(  # noqa: S603 - argv lists of the checks, no shell
                argv, capture_output=True, text=True, errors="replace",
                timeout=self.timeout, env=self.env, stdin=subprocess.DEVNULL, check=False)
        except FileNotFoundError:
            return Result(127, "", f"{argv[0]}: command not found")
        except subprocess.TimeoutExpired:
            return Result(124, "", f"{argv[0]}: stopped after {self.timeout} s")
        return Result(process.returncode, process.stdout, process.stderr)

    def read(self, path):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return None


def main():
    module = AnsibleModule(
        argument_spec={
            "controls": {"type": "list", "elements": "str", "required": True},
            "params": {"type": "dict", "default": {}},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    probe = LocalProbe(module.params["timeout"])
    virt = probe.run(["systemd-detect-virt"]).stdout.strip() or "none"
    container = probe.run(["systemd-detect-virt", "--container"]).rc == 0
    results = [evaluate(control_id, probe, module.params["params"])
               for control_id in module.params["controls"]]
    module.exit_json(changed=False, results=results,
                     host={"virtualization": virt, "container": container})


if __name__ == "__main__":
    main()
