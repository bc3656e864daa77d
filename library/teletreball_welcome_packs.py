#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: keep one welcome pack folder per person; archive offboarded people."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_welcome_packs
short_description: Write per-person welcome pack files and archive those of offboarded people
description:
  - Each person has a folder C(<directory>/people/<username>/) that the service
    roles fill with what the person needs (README, account data, VPN profiles, ...).
  - Writes the files given in O(packs) when their content differs (atomic writes,
    mode 0600, folders 0700). Files of the folder that are not listed are left alone,
    so that several roles can each own their files. O(owner) names the role writing.
  - Moves the folder of each username in O(archive) to
    C(<directory>/archive/<username>-<UTC time>/) and appends a line to
    C(<directory>/audit.log), so an offboarded person's data is kept, not deleted.
  - With O(identities), each folder records whose it is (the file C(.identity),
    mode 0600). A folder whose recorded identity differs from the given one, a
    username now given to another person, is archived first, so that the new
    person gets a new folder, with new secrets and nothing of her predecessor's.
  - One task handles every person. Runs on the controller.
options:
  directory:
    description: The credentials directory of the inventory.
    type: path
    required: true
  packs:
    description: Username to a dictionary of file name to file content.
    type: dict
    default: {}
  qr_codes:
    description:
      - Username to a dictionary of C(.png) file name to the text the QR code holds
        (made with the C(qrencode) command, mode 0600). A code is rewritten only when
        its text changes (the same text always gives the same image).
    type: dict
    default: {}
  identities:
    description:
      - Username to the digest of the person's identity key (the directory's
        C(identity)). The folder of a username whose C(.identity) holds another
        digest is archived before anything is written; each folder listed gets
        C(.identity) (a folder made before without one is taken as the person's).
    type: dict
    default: {}
  archive:
    description: Usernames whose folder must be archived (offboarded people).
    type: list
    elements: str
    default: []
  keep:
    description:
      - When given, the usernames whose folders stay; the folder of any other
        username under C(people/) is archived too (a person deleted from the
        staff list instead of being set absent).
    type: list
    elements: str
  owner:
    description: Who writes these files, for the audit log (usually the role name).
    type: str
    default: teletreball
notes:
  - Supports check mode and diff mode.
  - The content may hold secrets; use C(no_log) on the task.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Write the welcome packs
  teletreball_welcome_packs:
    directory: "{{ teletreball_credentials_dir }}"
    packs: "{{ lookup('ansible.builtin.template', 'welcome_packs.json.j2') }}"
    archive: "{{ teletreball_directory.absent }}"
  no_log: true

- name: Add the second-factor QR code of a person to their pack
  teletreball_welcome_packs:
    directory: "{{ teletreball_credentials_dir }}"
    qr_codes:
      anna: {desktop-totp.png: "otpauth://totp/Ajuntament:anna?secret=...&issuer=Ajuntament"}
    owner: vdi
  no_log: true
"""

RETURN = r"""
written:
  description: Files written, as C(username/file).
  returned: success
  type: list
  elements: str
archived:
  description: Usernames whose folder was archived by this run (offboarded, deleted
    from the directory, or given to another person).
  returned: success
  type: list
  elements: str
"""

import datetime
import fcntl
import hashlib
import json
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_directory import USERNAME_RE
from ansible.module_utils.teletreball_files import (
    append_audit,
    atomic_write,
    private_makedirs,
    qr_png,
)

FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
IDENTITY_RE = re.compile(r"^[0-9a-f]{16,64}$")


def read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def read_memo(path):
    try:
        with open(path, encoding="utf-8") as handle:
            memo = json.load(handle)
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def remember(path, entries):
    """Add this run's QR code texts to the memo. Several roles write packs at the same
    time (site.yml runs the service hosts side by side): the memo is read again and
    rewritten under a lock, so no run loses another's entries."""
    lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        memo = read_memo(path)
        merged = dict(memo, **entries)
        if merged != memo:
            atomic_write(path, json.dumps(merged, indent=1, sort_keys=True) + "\n")
    finally:
        os.close(lock)


def main():
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "packs": {"type": "dict", "default": {}},
            "qr_codes": {"type": "dict", "default": {}},
            "archive": {"type": "list", "elements": "str", "default": []},
            "identities": {"type": "dict", "default": {}},
            "keep": {"type": "list", "elements": "str"},
            "owner": {"type": "str", "default": "teletreball"},
        },
        supports_check_mode=True,
    )
    base, packs = module.params["directory"], module.params["packs"]
    archive = module.params["archive"]
    if not os.path.isabs(base):
        module.fail_json(msg=f"directory must be an absolute path, not {base}.")
    qr_codes, identities = module.params["qr_codes"], module.params["identities"]
    for username in list(packs) + list(qr_codes) + archive + list(identities):
        if not USERNAME_RE.fullmatch(username):
            module.fail_json(msg=f"'{username}' is not a valid username.")
    for username, ident in identities.items():
        if not isinstance(ident, str) or not IDENTITY_RE.fullmatch(ident):
            module.fail_json(msg=f"identities.{username} must be a hex digest.")
    both = sorted(set(identities) & set(archive))
    if both:
        module.fail_json(msg=f"cannot both keep and archive the packs of: {', '.join(both)}.")
    both = sorted((set(packs) | set(qr_codes)) & set(archive))
    if both:
        module.fail_json(msg=f"cannot both write and archive the packs of: {', '.join(both)}.")

    people = os.path.join(base, "people")
    if module.params["keep"] is not None and os.path.isdir(people):
        keep = set(module.params["keep"]) | set(packs) | set(qr_codes) | set(identities)
        archive = sorted(set(archive) | {
            name for name in os.listdir(people)
            if os.path.isdir(os.path.join(people, name)) and name not in keep
            and USERNAME_RE.fullmatch(name)
        })
    written, archived, before, after = [], [], [], []
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")

    def move_to_archive(username):
        archived.append(username)
        before.append(f"{username}: people/{username}")
        after.append(f"{username}: archive/{username}-{stamp}")
        if not module.check_mode:
            private_makedirs(os.path.join(base, "archive"))
            os.rename(os.path.join(people, username),
                      os.path.join(base, "archive", f"{username}-{stamp}"))

    def ensure(relative, content):
        """Write people/<relative> when its bytes differ (compare, then act)."""
        path = os.path.join(people, relative)
        old = read_bytes(path)
        if old != content:
            written.append(relative)
            before.append(f"{relative}: {'absent' if old is None else 'old'}")
            after.append(f"{relative}: written")
            if not module.check_mode:
                atomic_write(path, content)

    # A username given to another person: her predecessor's folder goes first.
    renewed = set()
    for username, ident in sorted(identities.items()):
        recorded = read_bytes(os.path.join(people, username, ".identity"))
        if recorded is not None and recorded.decode("utf-8", "replace").strip() != ident:
            move_to_archive(username)
            renewed.add(username)
        if recorded is None or username in renewed:
            ensure(f"{username}/.identity", f"{ident}\n".encode())
    for username, files in sorted(packs.items()):
        if not isinstance(files, dict):
            module.fail_json(msg=f"packs.{username} must map file names to contents.")
        for name, content in sorted(files.items()):
            if not FILE_RE.fullmatch(name):
                module.fail_json(msg=f"packs.{username}: '{name}' is not a plain file name.")
            if not isinstance(content, str):
                module.fail_json(msg=f"packs.{username}.{name} must be text.")
            ensure(f"{username}/{name}", content.encode("utf-8"))

    # The text behind each QR code, remembered (as a SHA-256) from the run that drew
    # it: a code whose text did not change is not drawn again to be compared.
    memo_path = os.path.join(base, ".qr-codes.json")
    memo = read_memo(memo_path)
    new_memo = {}

    for username, codes in sorted(qr_codes.items()):
        if not isinstance(codes, dict):
            module.fail_json(msg=f"qr_codes.{username} must map file names to texts.")
        for name, text in sorted(codes.items()):
            if not FILE_RE.fullmatch(name) or not name.endswith(".png"):
                module.fail_json(
                    msg=f"qr_codes.{username}: '{name}' is not a plain .png file name."
                )
            if not isinstance(text, str) or not text:
                module.fail_json(msg=f"qr_codes.{username}.{name} must be a non-empty text.")
            relative = f"{username}/{name}"
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            new_memo[relative] = digest
            if memo.get(relative) == digest and os.path.isfile(os.path.join(people, relative)):
                continue
            ensure(relative, qr_png(module, text))
    if any(memo.get(key) != digest for key, digest in new_memo.items()) and not module.check_mode:
        remember(memo_path, new_memo)

    # Folders made before (or by hand) must still be private.
    folders = sorted(set(packs) | set(qr_codes) | set(identities))
    for folder in [people] + [os.path.join(people, username) for username in folders]:
        if os.path.isdir(folder) and os.stat(folder).st_mode & 0o077:
            written.append(f"{os.path.relpath(folder, base)}/ (mode 0700)")
            if not module.check_mode:
                os.chmod(folder, 0o700)

    for username in sorted(archive):
        if os.path.isdir(os.path.join(people, username)):
            move_to_archive(username)

    if (written or archived) and not module.check_mode:
        lines = [f"{stamp} {module.params['owner']} wrote {item}\n" for item in written]
        lines += [
            f"{stamp} {module.params['owner']} archived {u} to archive/{u}-{stamp}\n"
            for u in archived
        ]
        append_audit(base, lines)

    result = {"changed": bool(written or archived), "written": written, "archived": archived}
    if module._diff:
        result["diff"] = {"before": "\n".join(before) + "\n", "after": "\n".join(after) + "\n"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
