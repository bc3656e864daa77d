#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: encrypted backup and restore of an inventory's credentials folder."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_backup
short_description: Back up the credentials folder encrypted with age, or restore it
description:
  - The credentials folder of an inventory (C(teletreball_credentials_dir)) holds every
    password, VPN key and second-factor seed, the CA key and the repository's signing key.
    This module writes it, encrypted, to one dated archive, and brings it back.
  - With O(state=backup) it makes a deterministic tar of the folder in memory (members
    sorted, modes kept, no owner names or numbers, times kept) and pipes it to C(age),
    encrypted to the public keys of O(recipients) or O(recipients_file). Only the
    encrypted archive reaches the disk, as
    C(<backup_dir>/teletreball-<inventory>-<UTC YYYYmmddTHHMMSSZ>.tar.age) (0600, in a
    folder of mode 0700), written to a hidden temporary file and then renamed.
  - Before it reads the folder it takes the run lock C(<credentials_dir>.lock) for the
    C(ansible-playbook) process (the same lock as the preflight, module C(teletreball_run_lock)),
    so a backup never captures a run's half-written state; it waits at most O(timeout)
    seconds. The lock is given back when the module ends, unless this playbook held it
    already.
  - With O(state=restore) it decrypts O(archive) with the age identity O(identity) into a
    temporary folder beside O(credentials_dir), accepts only regular files and folders
    with relative names (no absolute names, no C(..), no links, no devices; tarfile's
    C(data) filter as a second guard), checks that the archive holds a credentials folder
    (C(state-id) or C(pki/ca.crt)), then renames it into place. An existing non-empty
    folder is refused unless O(force=true); it is then kept as
    C(<credentials_dir>.before-restore-<UTC YYYYmmddTHHMMSSZ>).
  - The identity file is read by C(age) only; its content never reaches this module's
    result or log.
  - Runs on the controller. Needs the C(age) program (Debian package C(age)).
options:
  state:
    description: Write a backup, or restore one.
    type: str
    choices: [backup, restore]
    default: backup
  credentials_dir:
    description: The credentials folder (C(teletreball_credentials_dir)), an absolute path.
    type: path
    required: true
  inventory:
    description: The inventory's name, part of the archive's name ([A-Za-z0-9_.-]).
      Default the folder's name.
    type: str
  backup_dir:
    description: The folder of the archives (O(state=backup)), an absolute path; created
      0700 when missing.
    type: path
  recipients:
    description: The age public keys (C(age1...)) the archive is encrypted to
      (O(state=backup)). One of O(recipients) and O(recipients_file) is needed.
    type: list
    elements: str
    default: []
  recipients_file:
    description: A file of age recipients, one per line (C(age -R)).
    type: path
  archive:
    description: The archive to restore (O(state=restore)).
    type: path
  identity:
    description: The age identity file (private key) that opens O(archive)
      (O(state=restore)). Only its path is used here; C(age) reads it.
    type: path
  force:
    description: Restore over an existing non-empty folder, which is kept beside it as
      C(<credentials_dir>.before-restore-<UTC>).
    type: bool
    default: false
  timeout:
    description: Seconds to wait for a run that holds the credentials folder.
    type: int
    default: 900
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports the archive it would write, or the folder it would restore
      (after decrypting and checking the archive in memory), and writes nothing.
  diff_mode:
    support: none
    details: Nothing to show; the contents are secret.
  platform:
    support: full
    platforms: posix
    details: Runs on the controller (Debian).
notes:
  - A backup reports C(changed=true) each time, since each run writes a new archive.
  - Keep the age identity offline (paper or a USB key in a safe); the controller needs
    only the public keys (docs/operations.md, "Backing up the credentials").
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Write an encrypted backup of the credentials folder
  teletreball_backup:
    state: backup
    credentials_dir: "{{ teletreball_credentials_dir }}"
    inventory: council
    backup_dir: /srv/backups/teletreball
    recipients:
      - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p

- name: Restore the credentials folder from a backup
  teletreball_backup:
    state: restore
    credentials_dir: "{{ teletreball_credentials_dir }}"
    archive: /srv/backups/teletreball/teletreball-council-20260301T020000Z.tar.age
    identity: /media/usb/teletreball-backup.key
"""

RETURN = r"""
path:
  description: The archive written (in check mode, that would be written), or restored from.
  returned: success
  type: str
  sample: /srv/backups/teletreball/teletreball-council-20260301T020000Z.tar.age
size:
  description: Size of the archive in bytes (0 in check mode for a backup).
  returned: success
  type: int
sha256:
  description: SHA-256 of the archive (empty in check mode for a backup).
  returned: success
  type: str
members:
  description: Number of files and folders in the archive (the folder itself not counted).
  returned: success
  type: int
credentials_dir:
  description: The credentials folder backed up or restored.
  returned: success
  type: str
previous:
  description: Where the folder that was there before a forced restore was kept.
  returned: when a restore replaced a folder
  type: str
"""

import datetime
import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_lock import LockTimeout, hold_run_lock, release

RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
INVENTORY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# What makes a folder a credentials folder: one of these is in every folder a run wrote.
MARKERS = ("state-id", "pki/ca.crt")


class Failure(Exception):
    """A refusal with its message (and extra result keys)."""

    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.msg = msg
        self.extra = extra


def utc_stamp():
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def age_program(module):
    program = module.get_bin_path("age")
    if not program:
        raise Failure("The program age is missing on the controller: install the Debian "
                      "package age (harness/setup-controller).")
    return program


def make_tar(folder):
    """A deterministic tar of ``folder`` (bytes) and its member count: names sorted,
    modes and times kept, no owners, regular files and folders only."""
    buffer = io.BytesIO()
    count = 0
    paths = []
    for root, dirs, files in os.walk(folder):
        paths += [os.path.join(root, name) for name in dirs + files]
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for relative in sorted(os.path.relpath(path, folder) for path in paths):
            path = os.path.join(folder, relative)
            info = os.lstat(path)
            member = tarfile.TarInfo(relative)
            member.mode = stat.S_IMODE(info.st_mode)
            member.mtime = int(info.st_mtime)
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            if stat.S_ISDIR(info.st_mode):
                member.type = tarfile.DIRTYPE
                tar.addfile(member)
            elif stat.S_ISREG(info.st_mode):
                member.size = info.st_size
                with open(path, "rb") as handle:
                    tar.addfile(member, handle)
            else:
                raise Failure(f"{path} is neither a file nor a folder (a link?); the "
                              "credentials folder holds only files and folders.")
            count += 1
    return buffer.getvalue(), count


def recipient_arguments(params):
    recipients = params["recipients"] or []
    bad = [value for value in recipients if not RECIPIENT.match(value)]
    if bad:
        raise Failure("recipients: not age public keys (age1 followed by 58 characters, as "
                      f"age-keygen -y prints): {', '.join(bad)}")
    arguments = [item for value in recipients for item in ("-r", value)]
    if params["recipients_file"]:
        if not os.path.isfile(params["recipients_file"]):
            raise Failure(f"recipients_file {params['recipients_file']} is not a file.")
        arguments += ["-R", params["recipients_file"]]
    if not arguments:
        raise Failure("No recipients: set recipients (teletreball_backup_recipients, the age "
                      "public keys) or recipients_file; a backup nobody can open is no backup.")
    return arguments


def backup(module, params):
    folder = params["credentials_dir"]
    if not params["backup_dir"] or not os.path.isabs(params["backup_dir"]):
        raise Failure("backup_dir (teletreball_backup_dir) must be an absolute path.")
    inventory = params["inventory"] or os.path.basename(os.path.normpath(folder))
    if not INVENTORY.match(inventory):
        raise Failure(f"inventory {inventory!r}: letters, digits and ._- only.")
    arguments = recipient_arguments(params)
    program = age_program(module)
    if not os.path.isdir(folder):
        raise Failure(f"The credentials folder {folder} does not exist: nothing to back up.")
    backup_dir = params["backup_dir"]
    if os.path.realpath(backup_dir).startswith(os.path.realpath(folder) + os.sep):
        raise Failure(f"backup_dir {backup_dir} is inside the credentials folder.")
    target = os.path.join(backup_dir, f"teletreball-{inventory}-{utc_stamp()}.tar.age")
    lock = None
    if not module.check_mode:
        lock = hold_run_lock(folder, "backup", params["timeout"], "the backup wrote nothing")
    try:
        data, count = make_tar(folder)
        result = {"changed": True, "path": target, "members": count, "credentials_dir": folder}
        if module.check_mode:
            # age must accept the recipients, even when nothing is written.
            check = subprocess.run(  # noqa: S603 - argv list, no shell
                [program, *arguments], input=b"", capture_output=True,
                                   check=False)
            if check.returncode != 0:
                raise Failure(f"age refused the recipients: {age_message(check)}")
            return dict(result, size=0, sha256="")
        if not os.path.isdir(backup_dir):
            os.makedirs(backup_dir, 0o700)
        os.chmod(backup_dir, 0o700)
        handle, temporary = tempfile.mkstemp(prefix=".teletreball-backup-", dir=backup_dir)
        try:
            with os.fdopen(handle, "wb") as out:
                done = subprocess.run(  # noqa: S603 - argv list, no shell
                    [program, *arguments], input=data, stdout=out,
                                      stderr=subprocess.PIPE, check=False)
                if done.returncode != 0:
                    raise Failure(f"age refused to encrypt: {age_message(done)}")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.rename(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    finally:
        if lock and lock[2]:
            release(lock[0], lock[1])
    digest = hashlib.sha256()
    with open(target, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return dict(result, size=os.path.getsize(target), sha256=digest.hexdigest())


def age_message(done):
    text = done.stderr.decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else f"exit status {done.returncode}"


def check_members(tar):
    """Every member a regular file or folder with a safe relative name; their count."""
    bad = []
    for member in tar.getmembers():
        name = member.name
        parts = name.split("/")
        if name.startswith("/") or ".." in parts:
            bad.append(f"{name} (outside the folder)")
        elif not (member.isreg() or member.isdir()):
            bad.append(f"{name} (not a file or folder)")
    if bad:
        raise Failure("The archive holds members a credentials folder never has; nothing was "
                      f"restored: {', '.join(bad[:10])}")
    names = {member.name.rstrip("/") for member in tar.getmembers()}
    if not any(marker in names for marker in MARKERS):
        raise Failure("The archive is not a backup of a credentials folder (it has neither "
                      f"{' nor '.join(MARKERS)}); nothing was restored.")
    return len(names - {".", ""})


def restore(module, params):
    folder = os.path.normpath(params["credentials_dir"])
    archive, key = params["archive"], params["identity"]
    if not archive or not key:
        raise Failure("A restore needs archive (teletreball_restore_archive) and identity "
                      "(teletreball_restore_identity, the age identity file).")
    for label, path in (("archive", archive), ("identity", key)):
        if not os.path.isfile(path):
            raise Failure(f"{label} {path} is not a file.")
    program = age_program(module)
    lock = None if module.check_mode else hold_run_lock(
        folder, "backup", params["timeout"], "the restore changed nothing")
    try:
        return restore_locked(module, params, program)
    finally:
        if lock and lock[2]:
            release(lock[0], lock[1])


def restore_locked(module, params, program):
    folder = os.path.normpath(params["credentials_dir"])
    archive, key = params["archive"], params["identity"]
    occupied = os.path.isdir(folder) and bool(os.listdir(folder))
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise Failure(f"{folder} exists and is not a folder; nothing was restored.")
    if occupied and not params["force"]:
        raise Failure(f"The credentials folder {folder} exists and is not empty; nothing was "
                      "restored. To replace it (it is kept beside as "
                      f"{os.path.basename(folder)}.before-restore-<time>), set force "
                      "(-e teletreball_restore_force=true).")
    done = subprocess.run(  # noqa: S603 - argv list, no shell
        [program, "--decrypt", "--identity", key, archive],
                          capture_output=True, check=False)
    if done.returncode != 0:
        raise Failure(f"age could not decrypt {archive} with the identity {key} (the wrong "
                      f"key, or a damaged archive): {age_message(done)}; nothing was restored.")
    digest = hashlib.sha256()
    with open(archive, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    try:
        with tarfile.open(fileobj=io.BytesIO(done.stdout), mode="r:") as tar:
            count = check_members(tar)
            result = {"changed": True, "path": archive, "size": os.path.getsize(archive),
                      "sha256": digest.hexdigest(), "members": count,
                      "credentials_dir": folder}
            if module.check_mode:
                return result
            parent = os.path.dirname(folder)
            os.makedirs(parent, 0o700, exist_ok=True)
            temporary = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}.restore-",
                                         dir=parent)
            try:
                tar.extractall(temporary, filter="data")
                # The data filter leaves folders at the default mode: give each its own
                # (0700 for the people's folders), deepest first.
                folders = sorted((member for member in tar.getmembers() if member.isdir()),
                                 key=lambda member: member.name, reverse=True)
                for member in folders:
                    os.chmod(os.path.join(temporary, member.name), member.mode & 0o777)
                os.chmod(temporary, 0o700)
                if occupied or os.path.isdir(folder):
                    previous = f"{folder}.before-restore-{utc_stamp()}"
                    os.rename(folder, previous)
                    if occupied:
                        result["previous"] = previous
                    else:
                        os.rmdir(previous)
                os.rename(temporary, folder)
            finally:
                if os.path.isdir(temporary):
                    shutil.rmtree(temporary)
    except tarfile.TarError as exc:
        raise Failure(f"{archive} decrypts, but not to a tar archive ({exc}); nothing was "
                      "restored.") from exc
    return result


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["backup", "restore"], "default": "backup"},
            "credentials_dir": {"type": "path", "required": True},
            "inventory": {"type": "str"},
            "backup_dir": {"type": "path"},
            "recipients": {"type": "list", "elements": "str", "default": []},
            "recipients_file": {"type": "path"},
            "archive": {"type": "path"},
            "identity": {"type": "path", "no_log": False},
            "force": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 900},
        },
        required_if=[("state", "restore", ("archive", "identity"))],
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.isabs(params["credentials_dir"]):
        module.fail_json(msg=f"credentials_dir must be an absolute path, not "
                             f"{params['credentials_dir']!r}.")
    try:
        if params["state"] == "backup":
            result = backup(module, params)
        else:
            result = restore(module, params)
    except Failure as exc:
        module.fail_json(msg=exc.msg, **exc.extra)
    except LockTimeout as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"{params['state']} failed: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
