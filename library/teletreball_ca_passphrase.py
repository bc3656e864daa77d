#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: change the passphrase of the internal CA's key, keeping the key."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_ca_passphrase
short_description: Encrypt the internal CA's key again with a new passphrase
description:
  - Changes the passphrase of the CA key on the controller without a new CA. The same key
    is written again as PKCS#8 encrypted with the new passphrase (as the role C(pki)
    writes it), to a synced temporary file renamed over the old one. The keys of a
    rotation under way (C(next/ca.key), C(previous/ca.key)) get the new passphrase too.
  - A key that opens with the new passphrase already is left alone, so a run that finds
    every key done changes nothing. A key that opens with neither passphrase stops the
    module before any key is written.
  - With O(passphrase) (the passphrase is a variable, C(pki_ca_passphrase) in the vault)
    the new one is O(new_passphrase); put it in the vault as the new C(pki_ca_passphrase)
    afterwards.
  - With O(passphrase_path) (C(pki_ca_passphrase_file)) the new passphrase is
    O(new_passphrase), or 48 generated letters and digits. It is written first to
    C(<passphrase_path>.new) (0600), then the keys are encrypted again, then that file is
    renamed over O(passphrase_path). A run stopped in between is finished by running it
    again, which takes the passphrase of C(.new). Without O(new_passphrase) every complete
    run makes a new passphrase.
  - Never returns or logs a passphrase. Runs on the controller, holding the run lock
    C(<credentials_dir>.lock) as the runs do.
options:
  directory:
    description: The folder of the active CA (C(pki_ca_dir)); its C(ca.key) must exist.
    type: path
    required: true
  passphrase:
    description: The current passphrase (C(pki_ca_passphrase)). One of O(passphrase) and
      O(passphrase_path) is needed.
    type: str
  passphrase_path:
    description: The file of the current passphrase (C(pki_ca_passphrase_file)), which
      receives the new one.
    type: path
  new_passphrase:
    description: The new passphrase, at least 32 characters (C(pki_ca_new_passphrase)).
      Needed with O(passphrase); generated when omitted with O(passphrase_path).
    type: str
  credentials_dir:
    description: The credentials folder, whose run lock is held while the keys change.
    type: path
    required: true
  timeout:
    description: Seconds to wait for a run that holds the credentials folder.
    type: int
    default: 900
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Opens every key and tells which would be written again; writes nothing.
  diff_mode:
    support: none
    details: Nothing to show; the contents are secret.
  platform:
    support: full
    platforms: posix
    details: Runs on the controller.
notes:
  - Needs the Python library cryptography on the controller.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Change the passphrase of the CA key (file)
  teletreball_ca_passphrase:
    directory: "{{ pki_ca_dir }}"
    passphrase_path: "{{ pki_ca_passphrase_file }}"
    credentials_dir: "{{ teletreball_credentials_dir }}"
  delegate_to: localhost
  no_log: true

- name: Change the passphrase of the CA key (vault)
  teletreball_ca_passphrase:
    directory: "{{ pki_ca_dir }}"
    passphrase: "{{ pki_ca_passphrase }}"
    new_passphrase: "{{ pki_ca_new_passphrase }}"
    credentials_dir: "{{ teletreball_credentials_dir }}"
  delegate_to: localhost
  no_log: true
"""

RETURN = r"""
rewritten:
  description: The keys written again with the new passphrase (or that would be, in check
    mode).
  returned: success
  type: list
  elements: str
  sample: [/srv/teletreball/credentials/council/pki/ca.key]
passphrase_file_changed:
  description: Whether O(passphrase_path) now holds a new passphrase.
  returned: success
  type: bool
"""

import os
import secrets
import string

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.teletreball_files import durable_write, fsync_dir
from ansible.module_utils.teletreball_lock import LockTimeout, hold_run_lock, release
from ansible.module_utils.teletreball_pki import HAS_CRYPTOGRAPHY

if HAS_CRYPTOGRAPHY:
    from cryptography.hazmat.primitives import serialization

MIN_LENGTH = 32
GENERATED_LENGTH = 48
ENCRYPTED_PKCS8 = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
OTHER_KEYS = ("next/ca.key", "previous/ca.key")


class Failure(Exception):
    """A refusal with its message (never a passphrase)."""


def read_secret(path, label):
    try:
        with open(path, "rb") as handle:
            value = handle.read().strip()
    except FileNotFoundError as exc:
        raise Failure(f"{label} {path} is missing.") from exc
    except OSError as exc:
        raise Failure(f"{label} {path} cannot be read ({exc.strerror}).") from exc
    if not value:
        raise Failure(f"{label} {path} is empty.")
    return value


def opens(data, passphrase):
    try:
        return serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError):
        return None


def plan(keys, old, new):
    """[(path, key object)] of the keys to write again; fails on a key neither opens."""
    todo, refused = [], []
    for path in keys:
        with open(path, "rb") as handle:
            data = handle.read()
        if not data.lstrip().startswith(ENCRYPTED_PKCS8):
            refused.append(f"{path} is not an encrypted PKCS#8 key")
        elif opens(data, new) is not None:
            continue
        else:
            key = opens(data, old)
            if key is None:
                refused.append(f"{path} opens with neither the current passphrase nor the "
                               "new one")
            else:
                todo.append((path, key))
    if refused:
        raise Failure("Nothing was changed: " + "; ".join(refused) + ". Check the current "
                      "passphrase (pki_ca_passphrase or pki_ca_passphrase_file).")
    return todo


def rewrite(todo, new):
    for path, key in todo:
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.BestAvailableEncryption(new))
        durable_write(path, data)
        if opens(data, new) is None:
            raise Failure(f"{path} was written but does not open with the new passphrase.")


def generate():
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(GENERATED_LENGTH)).encode()


def change(module):
    params = module.params
    directory = params["directory"]
    main_key = os.path.join(directory, "ca.key")
    if not os.path.isfile(main_key):
        raise Failure(f"The CA key {main_key} is missing: there is no passphrase to change "
                      "(the normal run makes the CA).")
    keys = [main_key] + [os.path.join(directory, name) for name in OTHER_KEYS
                         if os.path.isfile(os.path.join(directory, name))]
    given = params["new_passphrase"]
    if given is not None and len(given.strip()) < MIN_LENGTH:
        raise Failure(f"The new passphrase (pki_ca_new_passphrase) must be at least "
                      f"{MIN_LENGTH} characters long.")
    path = params["passphrase_path"]
    if path is None:
        if given is None:
            raise Failure("With pki_ca_passphrase, the new passphrase is pki_ca_new_passphrase "
                          "(a vaulted variable): set it.")
        old, new = params["passphrase"].strip().encode(), given.strip().encode()
        if not old:
            raise Failure("pki_ca_passphrase is empty.")
        todo = plan(keys, old, new)
        if not module.check_mode:
            rewrite(todo, new)
        return {"rewritten": [item[0] for item in todo], "passphrase_file_changed": False}

    old = read_secret(path, "The passphrase file")
    staging = path + ".new"
    if os.path.exists(staging):
        new = read_secret(staging, "The new passphrase file")  # a run stopped half-way
    elif given is not None:
        new = given.strip().encode()
    else:
        new = generate()
    if new == old:
        plan(keys, old, new)  # every key opens with it: nothing to change
        return {"rewritten": [], "passphrase_file_changed": False}
    todo = plan(keys, old, new)
    if module.check_mode:
        return {"rewritten": [item[0] for item in todo], "passphrase_file_changed": True}
    # The new passphrase is on disk before any key needs it, and replaces the old one
    # only once every key opens with it.
    if not os.path.exists(staging):
        durable_write(staging, new + b"\n")
    rewrite(todo, new)
    os.rename(staging, path)
    fsync_dir(os.path.dirname(path) or ".")
    return {"rewritten": [item[0] for item in todo], "passphrase_file_changed": True}


def main():
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "passphrase": {"type": "str", "no_log": True},
            "passphrase_path": {"type": "path", "no_log": False},
            "new_passphrase": {"type": "str", "no_log": True},
            "credentials_dir": {"type": "path", "required": True},
            "timeout": {"type": "int", "default": 900},
        },
        required_one_of=[("passphrase", "passphrase_path")],
        mutually_exclusive=[("passphrase", "passphrase_path")],
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    lock = None
    try:
        if not module.check_mode:
            lock = hold_run_lock(module.params["credentials_dir"], "rotate_ca",
                                 module.params["timeout"], "nothing was changed")
        result = change(module)
    except (Failure, LockTimeout) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"Changing the passphrase failed: {exc.strerror} "
                             f"({exc.filename}); run it again.")
    finally:
        if lock and lock[2]:
            release(lock[0], lock[1])
    module.exit_json(changed=bool(result["rewritten"]) or result["passphrase_file_changed"],
                     **result)


if __name__ == "__main__":
    main()
