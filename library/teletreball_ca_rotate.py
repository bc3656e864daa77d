#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the steps switch and finish of a rotation of the internal CA."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_ca_rotate
short_description: Make the next internal CA the active one, or archive the previous one
description:
  - Two steps of a rotation of the internal CA on the controller (playbooks/rotate_ca.yml;
    the step C(prepare) makes the next CA in C(<directory>/next/) with the role's usual
    tasks). The state of the rotation is the folders themselves, so that a step stopped
    half-way is finished by running it again.
  - O(step=switch) makes the CA of C(next/) the active one. The active CA's files
    (C(ca.key), C(ca.csr), C(ca.crt)) are first copied into C(.previous-partial/), which
    is renamed C(previous/) once complete; then each file of C(next/) replaces the
    active one (written to a temporary file and renamed); then C(next/) is renamed
    C(.next-removed/) and deleted. Each stage is skipped when it is already done; a
    switch already done changes nothing. Without C(next/) (nothing prepared) it fails.
  - O(step=finish) ends the overlap. C(previous/) is renamed
    C(<archive_dir>/pki-<UTC YYYYmmddTHHMMSSZ>/) (0700, one rename), never deleted. It
    fails while C(next/) or a transient folder exists (the switch is not done); without
    C(previous/) it changes nothing when an earlier rotation was archived, and fails
    otherwise.
  - It holds the run lock C(<credentials_dir>.lock) while it works, as the runs do
    (module C(teletreball_run_lock)), so that no run reads a half-moved CA.
  - It reads no key, so it needs no passphrase. Runs on the controller.
options:
  step:
    description: The step to take.
    type: str
    choices: [switch, finish]
    required: true
  directory:
    description: The folder of the active CA (C(pki_ca_dir)), an absolute path.
    type: path
    required: true
  archive_dir:
    description: The folder of the archived CAs (O(step=finish)), created 0700.
    type: path
    required: true
  credentials_dir:
    description: The credentials folder, whose run lock C(<credentials_dir>.lock) is held
      while the step works.
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
    details: Tells what the step would do and moves nothing.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details: Runs on the controller; the folders must be on one file system (renames).
notes:
  - The hosts learn of a step on the next normal run (C(site.yml), or C(--tags pki) and
    the services), which reads the folders (module C(teletreball_ca_check)).
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Make the prepared CA the active one
  teletreball_ca_rotate:
    step: switch
    directory: "{{ pki_ca_dir }}"
    archive_dir: "{{ teletreball_credentials_dir }}/revoked"
    credentials_dir: "{{ teletreball_credentials_dir }}"
  delegate_to: localhost

- name: Archive the previous CA
  teletreball_ca_rotate:
    step: finish
    directory: "{{ pki_ca_dir }}"
    archive_dir: "{{ teletreball_credentials_dir }}/revoked"
    credentials_dir: "{{ teletreball_credentials_dir }}"
  delegate_to: localhost
"""

RETURN = r"""
done:
  description: What the step did (or would do in check mode), in order; empty when
    nothing was left to do.
  returned: success
  type: list
  elements: str
  sample: ["copied the active CA to previous/", "made next/ the active CA"]
archive:
  description: The folder the previous CA was archived to (O(step=finish)), empty when
    nothing was archived.
  returned: success
  type: str
  sample: /srv/teletreball/credentials/council/revoked/pki-20270301T100000Z
"""

import datetime
import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_files import durable_write, fsync_dir
from ansible.module_utils.teletreball_lock import LockTimeout, hold_run_lock, release

CA_FILES = ("ca.key", "ca.csr", "ca.crt")
NEXT, PREVIOUS = "next", "previous"
PARTIAL, REMOVED = ".previous-partial", ".next-removed"


class Failure(Exception):
    """A refusal with its message."""


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def complete(folder):
    return all(os.path.isfile(os.path.join(folder, name)) for name in CA_FILES)


def switch(directory, check_mode):
    nxt, previous = os.path.join(directory, NEXT), os.path.join(directory, PREVIOUS)
    partial, removed = os.path.join(directory, PARTIAL), os.path.join(directory, REMOVED)
    done = []
    if not os.path.isdir(nxt) and not os.path.isdir(removed):
        if os.path.isdir(previous):
            return done  # switched already
        raise Failure(f"No new CA is prepared in {nxt}: run playbooks/rotate_ca.yml -e "
                      "step=prepare first, then the normal run (every host trusts both CAs).")
    if os.path.isdir(nxt) and not complete(nxt):
        raise Failure(f"{nxt} is incomplete (it needs {', '.join(CA_FILES)}): run "
                      "playbooks/rotate_ca.yml -e step=prepare again.")
    if not os.path.isdir(previous):
        # The active CA is untouched until previous/ is complete.
        done.append("copied the active CA to previous/")
        if not check_mode:
            if os.path.isdir(partial):
                shutil.rmtree(partial)
            os.mkdir(partial, 0o700)
            os.chmod(partial, 0o700)
            for name in CA_FILES:
                durable_write(os.path.join(partial, name), read(os.path.join(directory, name)))
            os.rename(partial, previous)
            fsync_dir(directory)
    if os.path.isdir(nxt):
        changed = [name for name in CA_FILES
                   if not os.path.isfile(os.path.join(directory, name))
                   or read(os.path.join(nxt, name)) != read(os.path.join(directory, name))]
        if changed:
            done.append("made next/ the active CA")
        if not check_mode:
            for name in changed:
                durable_write(os.path.join(directory, name), read(os.path.join(nxt, name)))
            os.rename(nxt, removed)
            fsync_dir(directory)
    if os.path.isdir(removed) or os.path.isdir(nxt):
        done.append("removed next/")
        if not check_mode:
            shutil.rmtree(removed)
            fsync_dir(directory)
    return done


def finish(directory, archive_dir, check_mode):
    previous = os.path.join(directory, PREVIOUS)
    if os.path.isdir(os.path.join(directory, NEXT)) and not os.path.isdir(previous):
        raise Failure("The new CA is prepared but does not sign yet: run playbooks/"
                      "rotate_ca.yml -e step=switch first, then the normal run (it reissues "
                      "every certificate), and finish only after the overlap.")
    if any(os.path.isdir(os.path.join(directory, name)) for name in (NEXT, PARTIAL, REMOVED)):
        raise Failure("The switch to the new CA stopped half-way: run playbooks/rotate_ca.yml "
                      "-e step=switch again, then the normal run.")
    if not os.path.isdir(previous):
        archived = sorted(name for name in (os.listdir(archive_dir)
                                            if os.path.isdir(archive_dir) else [])
                          if name.startswith("pki-"))
        if archived:
            return [], ""  # finished already
        raise Failure(f"No rotation of the CA to finish ({previous} does not exist): a "
                      "rotation starts with playbooks/rotate_ca.yml -e step=prepare.")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = os.path.join(archive_dir, f"pki-{stamp}")
    if os.path.lexists(target):
        raise Failure(f"{target} exists already: run the step again in a second.")
    if not check_mode:
        os.makedirs(archive_dir, 0o700, exist_ok=True)
        os.chmod(archive_dir, 0o700)
        try:
            os.rename(previous, target)
        except OSError as exc:
            raise Failure(f"Cannot move {previous} to {target}: {exc.strerror} (both must be "
                          "on one file system; archive_dir is inside the credentials "
                          "folder).") from exc
        os.chmod(target, 0o700)
        fsync_dir(archive_dir)
        fsync_dir(directory)
    return [f"archived previous/ to {target}"], target


def main():
    module = AnsibleModule(
        argument_spec={
            "step": {"type": "str", "choices": ["switch", "finish"], "required": True},
            "directory": {"type": "path", "required": True},
            "archive_dir": {"type": "path", "required": True},
            "credentials_dir": {"type": "path", "required": True},
            "timeout": {"type": "int", "default": 900},
        },
        supports_check_mode=True,
    )
    params = module.params
    directory = params["directory"]
    for name in ("directory", "archive_dir", "credentials_dir"):
        if not os.path.isabs(params[name]):
            module.fail_json(msg=f"{name} must be an absolute path, not {params[name]!r}.")
    if not complete(directory):
        module.fail_json(msg=f"No complete active CA in {directory} (it needs "
                             f"{', '.join(CA_FILES)}): the normal run makes it.")
    lock = None
    archive = ""
    try:
        if not module.check_mode:
            lock = hold_run_lock(params["credentials_dir"], "rotate_ca", params["timeout"],
                                 f"the step {params['step']} changed nothing")
        if params["step"] == "switch":
            done = switch(directory, module.check_mode)
        else:
            done, archive = finish(directory, params["archive_dir"], module.check_mode)
    except (Failure, LockTimeout) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"step {params['step']} failed: {exc}; run it again.")
    finally:
        if lock and lock[2]:
            release(lock[0], lock[1])
    module.exit_json(changed=bool(done), done=done, archive=archive)


if __name__ == "__main__":
    main()
