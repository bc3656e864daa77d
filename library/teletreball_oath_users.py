#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the pam_oath users file of a remote-desktop host, fully managed."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_oath_users
short_description: Keep the pam_oath users file of a host, keeping each person's replay state
description:
  - Manages the whole users file that C(pam_oath) reads (its C(usersfile=) option).
    Each line is C(TYPE USER PIN SECRET [COUNTER LAST_OTP LAST_TIME]), with the TOTP type
    C(HOTP/T<period>/<digits>) and the PIN C(+) (the password is checked by another PAM
    module).
  - C(pam_oath) rewrites the file after each successful login to record the last
    one-time password used (replay protection). The line of a listed person whose type,
    PIN and secret did not change is therefore kept byte for byte; a new or changed
    secret gets a fresh line without that state.
  - People in the file but not in O(users) are removed, which revokes their second
    factor. Comments, blank lines and lines that are not pam_oath entries are dropped
    and reported.
  - The file is read and written while holding C(pam_oath)'s lock file
    C(<path>.lock). liboath 2.6.12 creates it exclusively (it fails when the file
    exists), locks it, writes C(<path>.new), renames it and removes the lock file;
    the module does the same, so a login and a run never interleave, and it never
    leaves the lock file behind (a stale one would refuse every login). A lock
    file older than a minute is a leftover of a crash and is removed. The users
    file itself is also locked with fcntl (older liboath). It is replaced
    atomically, mode 0600, owned by the user running the module. A missing parent folder is created
    with mode 0700. The file is read once more after writing, in case a login that
    read the old file rewrote it meanwhile.
options:
  path:
    description: The users file, such as C(/etc/security/users.oath).
    type: path
    required: true
  users:
    description: Every person who may log in with a second factor on this host.
    type: list
    elements: dict
    required: true
    suboptions:
      username:
        description: The login name.
        type: str
        required: true
      secret:
        description: The TOTP secret, 32 to 128 lowercase hexadecimal digits (an even number).
        type: str
        required: true
  digits:
    description: Digits of each one-time password.
    type: int
    choices: [6, 8]
    default: 6
  period:
    description: Seconds each one-time password is valid, 15 to 120.
    type: int
    default: 30
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written, not even the lock file.
  diff_mode:
    support: partial
    details: The diff shows C(username type) lines, never secrets. A correction of the
      file's mode or owner alone is reported as a change with no difference shown.
notes:
  - Supports check mode (nothing is written, not even the lock file) and diff mode.
    The diff shows C(username type) lines, never secrets.
  - Use C(no_log) on the task anyway, since the secrets are its arguments.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Keep the second factors of the people of this desktop host
  teletreball_oath_users:
    path: /etc/security/users.oath
    users:
      - username: anna
        secret: "{{ lookup('ansible.builtin.file', credentials_dir + '/people/anna/totp') }}"
    period: 30
    digits: 6
  no_log: true
"""

RETURN = r"""
added:
  description: Usernames that got a line they did not have.
  returned: success
  type: list
  elements: str
updated:
  description: Usernames whose line was replaced (new secret, type or PIN); their replay
    state starts again.
  returned: success
  type: list
  elements: str
removed:
  description: Usernames whose line was removed (second factor revoked).
  returned: success
  type: list
  elements: str
dropped:
  description: "Lines dropped that were not pam_oath entries, as C(line N: reason)."
  returned: success
  type: list
  elements: str
"""

import contextlib
import errno
import fcntl
import os
import re
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_directory import USERNAME_RE
from ansible.module_utils.teletreball_files import atomic_write, private_makedirs

SECRET_RE = re.compile(r"^[0-9a-f]{32,128}$")
PIN = "+"
LOCK_TIMEOUT = 30  # seconds; pam_oath holds the lock only while it rewrites the file
STALE_LOCK_AGE = 60  # seconds; an older lock file is a leftover of a crash
ATTEMPTS = 3  # a login may rewrite the file from a copy read before ours


class LockError(Exception):
    pass


def check_params(params):
    """Return the first problem of the parameters, or None. Never names a secret."""
    if not os.path.isabs(params["path"]):
        return f"path must be an absolute path, not {params['path']}."
    if not 15 <= params["period"] <= 120:
        return f"period must be 15 to 120 seconds, not {params['period']}."
    seen = set()
    for user in params["users"]:
        name = user["username"]
        if not USERNAME_RE.fullmatch(name):
            return f"'{name}' is not a valid username."
        if name in seen:
            return f"users lists '{name}' more than once."
        seen.add(name)
        if not SECRET_RE.fullmatch(user["secret"]) or len(user["secret"]) % 2:
            return (
                f"the secret of '{name}' must be 32 to 128 lowercase hexadecimal digits, "
                "an even number of them."
            )
    return None


def parse(text):
    """Split the users file into entries ``(line_number, fields, line)`` and dropped lines."""
    entries, dropped = [], []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            dropped.append(f"line {number}: blank")
        elif fields[0].startswith("#"):
            dropped.append(f"line {number}: comment")
        elif 4 <= len(fields) <= 7 and fields[0].startswith("HOTP"):
            entries.append((number, fields, line))
        else:
            dropped.append(f"line {number}: not a pam_oath entry")
    return entries, dropped


def plan(text, users, otp_type):
    """Return the new file text and what changes, from the current ``text``.

    Pure function; ``users`` maps each username to its secret.
    """
    entries, dropped = parse(text)
    by_user = {}
    for entry in entries:
        by_user.setdefault(entry[1][1], []).append(entry)
    kept = {}
    for name, group in by_user.items():
        if name not in users:
            continue  # removed, every line of it
        wanted = (otp_type, name, PIN, users[name])
        match = next((entry for entry in group if tuple(entry[1][:4]) == wanted), None)
        if match:
            kept[name] = match[2]
        extra = [entry for entry in group if entry is not match][0 if match else 1:]
        dropped += [f"line {number}: another line of {name}" for number, _, _ in extra]
    dropped.sort(key=lambda item: int(item.split()[1].rstrip(":")))

    lines, added, updated = [], [], []
    for name in sorted(users):
        if name in kept:
            lines.append(kept[name])
            continue
        (updated if name in by_user else added).append(name)
        lines.append("\t".join((otp_type, name, PIN, users[name])))
    before = sorted({f"{fields[1]} {fields[0]}" for _, fields, _ in entries})
    after = []
    for name in sorted(users):
        line = f"{name} {otp_type}"
        after.append(f"{line} (replaced)" if name in updated and line in before else line)
    return {
        "text": "".join(f"{line}\n" for line in lines),
        "added": added, "updated": updated, "removed": sorted(set(by_user) - set(users)),
        "dropped": dropped, "before": before, "after": after,
    }


def _lock(path, create):
    """Open ``path`` and take a POSIX write lock on it, as pam_oath does with fcntl.

    Returns the descriptor, or None when the file is missing and ``create`` is false.
    Retries when the file was replaced or removed while we waited for the lock.
    """
    deadline = time.monotonic() + LOCK_TIMEOUT
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    while True:
        try:
            fd = os.open(path, flags, 0o600)
        except FileNotFoundError:
            return None
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):
                    os.close(fd)
                    raise
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise LockError(f"{path} stayed locked for {LOCK_TIMEOUT} seconds.") from exc
                time.sleep(0.1)
        held = os.fstat(fd)
        try:
            now = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
            return fd
        os.close(fd)  # replaced or removed while we waited: lock the current one


def _lock_file(path):
    """Create pam_oath's lock file ``path`` exclusively, as liboath does; return its
    descriptor. Waits while a login holds it; removes one left by a crash."""
    deadline = time.monotonic() + LOCK_TIMEOUT
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        try:
            return os.open(path, flags, 0o600)
        except FileExistsError:
            try:
                age = time.time() - os.stat(path, follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
            if age > STALE_LOCK_AGE:
                os.unlink(path)
                continue
            if time.monotonic() > deadline:
                raise LockError(f"{path} stayed in place for {LOCK_TIMEOUT} seconds.") from None
            time.sleep(0.1)


@contextlib.contextmanager
def locked(path, create):
    """Hold pam_oath's lock file ``<path>.lock`` (made here, removed on leaving) and a
    lock on the users file itself; yield the current content of the users file.
    Without ``create`` (check mode) nothing is made: the file is only read."""
    fds, lock_path = [], f"{path}.lock"
    made_lock = False
    try:
        if create:
            fds.append(_lock_file(lock_path))
            made_lock = True
        file_fd = _lock(path, False)
        if file_fd is None:
            yield None
            return
        fds.append(file_fd)
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            raise LockError(f"{path} is not a regular file.")
        # Read through the locked descriptor: closing any other descriptor of the
        # file would release the POSIX lock.
        chunks = []
        while chunk := os.read(file_fd, 65536):
            chunks.append(chunk)
        yield b"".join(chunks).decode("utf-8", errors="surrogateescape")
    finally:
        for fd in reversed(fds):
            os.close(fd)
        if made_lock:
            os.unlink(lock_path)


def needs_fixing(path):
    """True when the existing file is not 0600 or not owned by the user running."""
    info = os.stat(path)
    return stat.S_IMODE(info.st_mode) != 0o600 or info.st_uid != os.geteuid()


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "users": {
                "type": "list", "elements": "dict", "required": True,
                "options": {
                    "username": {"type": "str", "required": True},
                    "secret": {"type": "str", "required": True, "no_log": True},
                },
            },
            "digits": {"type": "int", "choices": [6, 8], "default": 6},
            "period": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    params = module.params
    problem = check_params(params)
    if problem:
        module.fail_json(msg=problem)
    path = params["path"]
    users = {user["username"]: user["secret"] for user in params["users"]}
    otp_type = f"HOTP/T{params['period']}/{params['digits']}"
    if os.path.isdir(path):
        module.fail_json(msg=f"path {path} is a folder, not a file.")
    folder = os.path.dirname(path)

    result, first = {"changed": False}, None
    try:
        for _ in range(1 if module.check_mode else ATTEMPTS):
            if not module.check_mode:
                private_makedirs(folder)
            with locked(path, create=not module.check_mode) as text:
                step = plan(text or "", users, otp_type)
                first = first or step
                for key in ("added", "updated", "removed"):
                    first[key] = sorted(set(first[key]) | set(step[key]))
                if text == step["text"] and not needs_fixing(path):
                    break
                result["changed"] = True
                if module.check_mode:
                    break
                atomic_write(path, step["text"].encode("utf-8", errors="surrogateescape"))
            # Unlocked: a login that read the old file before we locked it may now
            # rewrite it from that copy. The next pass checks and corrects that.
    except (LockError, OSError) as exc:
        module.fail_json(msg=f"Cannot update the pam_oath users file {path}: {exc}")

    result.update(
        added=first["added"], updated=first["updated"], removed=first["removed"],
        dropped=first["dropped"],
    )
    if module._diff:
        result["diff"] = {
            "before": "".join(f"{line}\n" for line in first["before"]),
            "after": "".join(f"{line}\n" for line in first["after"]),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
