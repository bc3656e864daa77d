#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: settings lines of distribution files, many in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_lines
short_description: Keep settings lines in files the distribution owns, many in one call
description:
  - For files the role does not own as a whole (C(/etc/login.defs),
    C(/etc/audit/auditd.conf), PAM files), keeps one line per O(lines) entry, as
    C(ansible.builtin.lineinfile) with O(lines[].regexp) does, but for every entry
    of every file in one module run.
  - For each entry, the last line matching O(lines[].regexp) is replaced by
    O(lines[].line); when no line matches, O(lines[].line) is added at the end of
    the file. A file whose lines are all as wanted is not written.
  - A changed file is written to a hidden candidate in its own folder with its
    current mode, owner and group, then renamed over it (readers see the old or the
    new file, never a partial one).
  - Every file must exist, and every regexp must compile; all problems are reported
    before anything is written.
options:
  lines:
    description: The lines to keep, applied in order.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of an existing regular file.
        type: path
        required: true
      regexp:
        description: Python regular expression, searched in each line, that finds the
          line to replace.
        type: str
        required: true
      line:
        description: The whole line wanted (without its newline).
        type: str
        required: true
      notify:
        description: A label returned in RV(notify) when this entry changed its file.
        type: str
  applied_dir:
    description:
      - Folder of the stamps of the configuration the services were last loaded with
        (module_utils/teletreball_applied.py), normally C(/var/lib/teletreball/applied).
        A file with labelled entries is compared with its stamp (the hash of the whole
        file as wanted); when they differ, the labels of its entries are returned in
        RV(notify) and RV(pending) although the file is as wanted, and its new stamp in
        RV(stamps), for C(teletreball_applied) to record after the handlers succeeded.
      - Omitted, no stamp is read.
    type: path
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - Check mode and diff mode are supported.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Keep full audit logs and size them
  teletreball_lines:
    lines:
      - {path: /etc/audit/auditd.conf, regexp: '^\s*max_log_file_action\s*=',
         line: max_log_file_action = keep_logs, notify: auditd}
      - {path: /etc/login.defs, regexp: '^\s*#?\s*UMASK\s', line: "UMASK\t027"}
  register: _lines
"""

RETURN = r"""
changed_files:
  description: The files that changed (or would change in check mode), in input order.
  returned: always
  type: list
  elements: str
notify:
  description: Sorted labels of the entries that changed their file, and RV(pending).
  returned: always
  type: list
  elements: str
pending:
  description: The labels of the files that did not change in this run but whose stamp
    in O(applied_dir) differs (an earlier run changed them and did not apply them).
  returned: always
  type: list
  elements: str
stamps:
  description: The stamps to record with C(teletreball_applied) once the handlers of
    RV(notify) succeeded, by file.
  returned: always
  type: dict
"""

import os
import re
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_applied import Pending
from ansible.module_utils.teletreball_hostfiles import install


def check(entries):
    """The problems of the entries (all of them), as messages."""
    problems = []
    for index, entry in enumerate(entries):
        where = f"lines[{index}] ({entry['path']})"
        if "\n" in entry["line"]:
            problems.append(f"{where}: line must not contain a newline")
        try:
            re.compile(entry["regexp"])
        except re.error as error:
            problems.append(f"{where}: regexp {entry['regexp']!r} does not compile: {error}")
        path = entry["path"]
        if not os.path.isabs(path):
            problems.append(f"{where}: path must be absolute")
        elif os.path.islink(path) or not os.path.isfile(path):
            problems.append(f"{where}: {path} is not an existing regular file")
    return problems


def apply_entry(lines, regexp, wanted):
    """``lines`` (without newlines) with ``wanted`` in place of the last line that
    matches ``regexp``, or added at the end."""
    pattern = re.compile(regexp)
    matches = [i for i, text in enumerate(lines) if pattern.search(text)]
    if matches:
        if lines[matches[-1]] == wanted:
            return lines
        return lines[: matches[-1]] + [wanted] + lines[matches[-1] + 1 :]
    return [*lines, wanted]


def write_atomically(path, text):
    """``text`` in place of the file at ``path`` (one rename), with its mode, owner and group."""
    info = os.stat(path)
    install(path, text.encode("utf-8"), info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))


def run(module):
    entries = module.params["lines"]
    problems = check(entries)
    if problems:
        module.fail_json(msg="; ".join(problems), changed_files=[], notify=[], pending=[],
                         stamps={})
    before, after, labels, order = {}, {}, {}, []
    all_labels = {}
    for entry in entries:
        path = entry["path"]
        if path not in before:
            with open(path, encoding="utf-8") as handle:
                before[path] = handle.read()
            after[path] = before[path].splitlines()
            order.append(path)
        updated = apply_entry(after[path], entry["regexp"], entry["line"])
        if updated != after[path] and entry.get("notify"):
            labels.setdefault(path, set()).add(entry["notify"])
        all_labels.setdefault(path, set()).add(entry.get("notify"))
        after[path] = updated
    changed, diffs, notify = [], [], set()
    pending = Pending(module.params["applied_dir"])
    for path in order:
        text = "\n".join(after[path]) + "\n"
        if after[path] == before[path].splitlines():
            # As the file is: its own newline at the end (or none) is kept.
            pending.compare(path, before[path].encode("utf-8"), all_labels[path])
            continue
        changed.append(path)
        notify |= labels.get(path, set())
        diffs.append({"before": before[path], "after": text,
                      "before_header": path, "after_header": path})
        if not module.check_mode:
            write_atomically(path, text)
        pending.compare(path, text.encode("utf-8"), all_labels[path], changed=True)
    result = {"changed": bool(changed), "changed_files": changed,
              "notify": sorted(notify | pending.labels), **pending.result()}
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec={
            "lines": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "path", "required": True},
                    "regexp": {"type": "str", "required": True},
                    "line": {"type": "str", "required": True},
                    "notify": {"type": "str"},
                },
            },
            "applied_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    run(module)


if __name__ == "__main__":
    main()
