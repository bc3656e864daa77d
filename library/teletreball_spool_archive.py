#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: archive the per-person folders of a spool whose holder left or changed."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_spool_archive
short_description: Archive and remove the folders of a spool whose holder left or changed
description:
  - A spool such as Asterisk's voicemail keeps one folder per number (the mailbox
    C(/var/spool/asterisk/voicemail/staff/<extension>/), with the messages and the
    recorded greetings). O(holders) names, for each folder that may stay, the
    identity of the person it belongs to now.
  - A folder of O(path) whose name matches O(pattern) and that is not in
    O(holders), or whose recorded holder has another identity (the number was given
    to somebody else), is archived to O(archive_dir) (a private C(tar.gz), 0600,
    in a folder of mode 0700) and then removed, so the next holder starts empty.
  - The identities are recorded in O(state_file) (0600). A folder that exists
    without a recorded identity (made before the record) is taken as its current
    holder's.
  - One task for every folder, so the number of tasks does not grow with the staff.
options:
  path:
    description: The spool folder whose sub-folders are managed.
    type: path
    required: true
  holders:
    description: Folder name to the identity (the directory's C(identity) digest)
      of its holder now. Folders not listed are archived.
    type: dict
    required: true
  pattern:
    description: Regular expression of the folder names managed; others are left alone.
    type: str
    default: '^[0-9]+$'
  archive_dir:
    description: Where the archives go (C(<name>-<UTC time>.tar.gz)).
    type: path
    required: true
  state_file:
    description: JSON record of the identity of each folder's holder.
    type: path
    required: true
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is archived, removed or written.
  diff_mode:
    support: partial
    details: The diff lists the folders that are archived. An update of the record of
      holders alone is reported as a change without a line in the diff.
notes:
  - Supports check mode (nothing archived, removed or written) and diff mode.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Archive the voicemail of extensions no longer held by the same person
  teletreball_spool_archive:
    path: /var/spool/asterisk/voicemail/staff
    holders: {"2001": "6f1c0e5d8a4b3c2d1e0f9a8b7c6d5e4f"}
    archive_dir: /var/backups/teletreball/voicemail
    state_file: /var/lib/teletreball/voicemail-holders.json
"""

RETURN = r"""
archived:
  description: The folders archived and removed, with the archive's path (null in
    check mode).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The folder's name (the extension).
      type: str
    reason:
      description: C(no holder) or C(another holder).
      type: str
    archive:
      description: Path of the archive.
      type: str
"""

import datetime
import json
import os
import re
import shutil
import tarfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_files import atomic_write, private_makedirs

IDENTITY_RE = re.compile(r"^[0-9a-f]{16,64}$")


def plan(existing, holders, recorded):
    """Return ``(archive, record)``: the folders to archive, as ``(name, reason)``,
    and the new record of holders. Pure: ``existing`` are the folder names found."""
    archive = []
    for name in sorted(existing):
        if name not in holders:
            archive.append((name, "no holder"))
        elif recorded.get(name) not in (None, holders[name]):
            archive.append((name, "another holder"))
    return archive, dict(sorted(holders.items()))


def read_record(path):
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return {}
    holders = record.get("holders") if isinstance(record, dict) else None
    if not isinstance(holders, dict):
        raise ValueError(f"{path} is not a record of holders.")
    return holders


def archive_folder(folder, archive_dir, name, stamp):
    """Write the folder to a private tar.gz (never overwriting), then remove it."""
    private_makedirs(archive_dir)
    os.chmod(archive_dir, 0o700)
    path, number = os.path.join(archive_dir, f"{name}-{stamp}.tar.gz"), 1
    while os.path.exists(path):
        number += 1
        path = os.path.join(archive_dir, f"{name}-{stamp}-{number}.tar.gz")
    partial = path + ".partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            tar.add(folder, arcname=name)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    if os.path.islink(folder):
        os.unlink(folder)
    else:
        shutil.rmtree(folder)
    return path


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "holders": {"type": "dict", "required": True},
            "pattern": {"type": "str", "default": "^[0-9]+$"},
            "archive_dir": {"type": "path", "required": True},
            "state_file": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    for key in ("path", "archive_dir", "state_file"):
        if not os.path.isabs(params[key]):
            module.fail_json(msg=f"{key} must be an absolute path, not {params[key]}.")
    try:
        pattern = re.compile(params["pattern"])
    except re.error as exc:
        module.fail_json(msg=f"pattern is not a regular expression: {exc}")
    holders = {str(k): v for k, v in params["holders"].items()}
    for name, ident in holders.items():
        if not pattern.fullmatch(name) or "/" in name or name in (".", ".."):
            module.fail_json(msg=f"holders: '{name}' is not a folder name the pattern manages.")
        if not isinstance(ident, str) or not IDENTITY_RE.fullmatch(ident):
            module.fail_json(msg=f"holders.{name} must be a hex digest.")
    try:
        recorded = read_record(params["state_file"])
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"Cannot read the record of holders: {exc}")
    spool = params["path"]
    existing = [
        name for name in (os.listdir(spool) if os.path.isdir(spool) else [])
        if pattern.fullmatch(name) and os.path.isdir(os.path.join(spool, name))
    ]
    to_archive, record = plan(existing, holders, recorded)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    archived = []
    for name, reason in to_archive:
        path = None
        if not module.check_mode:
            try:
                path = archive_folder(os.path.join(spool, name), params["archive_dir"],
                                      name, stamp)
            except OSError as exc:
                module.fail_json(msg=f"Cannot archive {os.path.join(spool, name)}: {exc}",
                                 archived=archived)
        archived.append({"name": name, "reason": reason, "archive": path})
    state_path = params["state_file"]
    content = json.dumps({"holders": record}, indent=2, sort_keys=True) + "\n"
    try:
        with open(state_path, encoding="utf-8") as handle:
            old = handle.read()
    except FileNotFoundError:
        old = None
    loose = old is not None and bool(os.stat(state_path).st_mode & 0o077)
    record_changed = old != content or loose
    if record_changed and not module.check_mode:
        atomic_write(state_path, content)
    result = {"changed": bool(archived) or record_changed, "archived": archived}
    if module._diff:
        result["diff"] = {
            "before": "".join(f"{spool}/{name}: {reason}\n" for name, reason in to_archive),
            "after": "".join(f"{spool}/{name}: archived\n" for name, _ in to_archive),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
