#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: record the configuration the services were just loaded with."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_applied
short_description: Record the stamps of the configuration files the services were reloaded with
description:
  - The last handler of a role. After the role's handlers checked and reloaded (or
    restarted) the services whose files changed or whose reload was pending, it records,
    per file, the hash of the content the service was loaded with (the RV(stamps) that
    C(teletreball_files) and C(teletreball_lines) returned). Run after the other
    handlers only; a failed handler fails the host and this one does not run, so the
    next run finds the stamps different and reloads again.
  - A run stopped between the write of a file and its reload (the stamp of the previous
    content stays) is so repaired by the next run, as the writing modules return the file's
    label as pending and the play notifies its handler. See
    module_utils/teletreball_applied.py and docs/architecture.md.
  - Each stamp is C(<folder>/<path, percent-encoded>), 0600 in a 0700 folder, written with
    one rename; a null stamp is removed.
options:
  stamps:
    description: 'File to stamp (C({dest, sha256, notify})), or null to remove its stamp.'
    type: dict
    required: true
  folder:
    description: Folder of the stamps, made when missing.
    type: path
    default: /var/lib/teletreball/applied
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written; RV(recorded) lists the stamps that would change.
  diff_mode:
    support: full
notes:
  - Supports check mode (nothing is written; RV(recorded) lists what would change) and
    diff mode.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
# handlers/main.yml, last handler of the role
- name: Record the applied PBX configuration
  teletreball_applied:
    stamps: >-
      {{ _pbx_written_secret.stamps | default({})
         | combine(_pbx_written.stamps | default({})) }}
"""

RETURN = r"""
recorded:
  description: The files whose stamp was written or removed (would be, in check mode).
  returned: success
  type: list
  elements: str
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_applied import read_stamp, record

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def problems_of(stamps):
    problems = []
    for dest, stamp in stamps.items():
        if not dest.startswith("/"):
            problems.append(f"{dest!r} is not an absolute path")
        if stamp is None:
            continue
        if not (isinstance(stamp, dict) and stamp.get("dest") == dest
                and SHA256.match(str(stamp.get("sha256", "")))
                and isinstance(stamp.get("notify"), list)):
            problems.append(f"the stamp of {dest} must be {{dest, sha256, notify}} "
                            "as teletreball_files returns it")
    return problems


def main():
    module = AnsibleModule(
        argument_spec={
            "stamps": {"type": "dict", "required": True},
            "folder": {"type": "path", "default": "/var/lib/teletreball/applied"},
        },
        supports_check_mode=True,
    )
    stamps, folder = module.params["stamps"], module.params["folder"]
    problems = problems_of(stamps)
    if problems:
        module.fail_json(msg="teletreball_applied: " + "; ".join(problems))
    before = {dest: read_stamp(folder, dest) for dest in stamps}
    try:
        recorded = record(folder, stamps, check_mode=module.check_mode)
    except OSError as exc:
        module.fail_json(msg=f"Cannot record the applied configuration in {folder}: {exc}")
    result = {"changed": bool(recorded), "recorded": recorded}
    if module._diff:
        result["diff"] = [{"before_header": f"stamp of {dest}", "after_header": f"stamp of {dest}",
                           "before": before[dest] or {}, "after": stamps[dest] or {}}
                          for dest in recorded]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
