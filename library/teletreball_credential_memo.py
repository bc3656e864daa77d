#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: write the password memo of one host and service, privately."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_credential_memo
short_description: Keep the memo of the stored passwords known to match, on the controller
description:
  - Writes O(content), the memo made by the filter C(teletreball_memo_text)
    (filter_plugins/teletreball_memo.py), to O(path) in the credentials folder,
    atomically, mode 0600, new folders 0700. Nothing is written when the file
    already holds it (a loose mode is made 0600).
  - The memo tells the next run which stored credentials of a host (password hashes,
    SCRAM keys) were found to match the current passwords, so they are not checked
    again. It holds digests and keyed tags, never a password or a stored hash.
  - Runs on the controller (C(delegate_to) C(localhost)). Use C(no_log) on the task.
options:
  path:
    description: The memo file, an absolute path.
    type: path
    required: true
  content:
    description: The memo, a JSON object of version 1.
    type: str
    required: true
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written.
  diff_mode:
    support: none
    details: The content is a secret; no diff is returned.
notes:
  - Supports check mode (nothing is written). The content is never returned or
    shown in a diff.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Remember which stored passwords match
  teletreball_credential_memo:
    path: "{{ credentials_dir }}/memo/{{ inventory_hostname }}/desktop-accounts.json"
    content: "{{ accounts | teletreball_memo_text(result.verified, memo_key, 'desktop') }}"
  delegate_to: localhost
  become: false
  no_log: true
"""

RETURN = r"""
path:
  description: The memo file.
  returned: success
  type: str
"""

import json
import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_files import atomic_write

MEMO_VERSION = 1


def check_content(text):
    """The first problem of the memo text, or None. Never shows the text."""
    try:
        memo = json.loads(text)
    except ValueError:
        return "content is not JSON."
    if not isinstance(memo, dict) or memo.get("version") != MEMO_VERSION or not isinstance(
            memo.get("accounts"), dict):
        return f"content is not a memo of version {MEMO_VERSION}."
    return None


def read(path):
    """The file's text and mode, or (None, None) when it is missing."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    except FileNotFoundError:
        return None, None
    except UnicodeDecodeError:
        return "", stat.S_IMODE(os.stat(path).st_mode)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "content": {"type": "str", "required": True, "no_log": True},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    if not os.path.isabs(path) or ".." in path.split("/"):
        module.fail_json(msg=f"path must be an absolute path without '..', not {path}.")
    problem = check_content(module.params["content"])
    if problem:
        module.fail_json(msg=f"{path}: {problem}")
    wanted = module.params["content"].rstrip("\n") + "\n"
    try:
        current, mode = read(path)
        rewrite = current != wanted
        loose = mode is not None and mode != 0o600
        if not module.check_mode:
            if rewrite:
                atomic_write(path, wanted)
            elif loose:
                os.chmod(path, 0o600)
    except OSError as exc:
        module.fail_json(msg=f"Cannot write the memo {path}: {exc}")
    module.exit_json(changed=rewrite or loose, path=path)


if __name__ == "__main__":
    main()
