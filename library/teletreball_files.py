#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: many configuration files of a host in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_files
short_description: Write many configuration files of a host in one call, each validated
description:
  - Manages every file of O(files) (and first every folder of O(directories)) in one
    module run, where one C(ansible.builtin.template) task per file costs two module runs
    even when nothing changes. The controller renders each content, for instance with
    C(lookup('ansible.builtin.template', 'name.j2')).
  - Each file is compared first. A file whose content, mode, owner and group all match is
    left alone (not even its modification time changes). A file whose content matches but
    mode, owner or group does not has only those fixed, without being rewritten.
  - Otherwise the content is written to a hidden candidate C(.<name>.<random>) in the
    folder of O(files[].dest), with the final mode, owner and group already set and
    synced to disk, then checked with O(files[].validate) if given, then moved over the
    file with one C(rename) (readers see the old or the new file, never a partial one).
    Being in the same folder, the candidate resolves relative includes as the file will;
    being hidden and without the file's extension, it is not picked up by the
    C(include dir/*.conf) globs of the daemons.
  - When a validator fails, the candidate is removed, the file keeps its old content and
    the module fails naming the file and the validator's output. Files written earlier in
    the same call stay written and are listed in the failure result (RV(changed_files),
    RV(notify)) and in its message, so the play can still run their handlers.
  - Everything is checked before anything is written (absolute paths, modes, owners,
    groups, validators, duplicate files), and all problems are reported together.
  - The contents are never logged on the host (the module logs only the paths it was
    given) and never returned in the RV(invocation) of the result. The content of a file
    with O(files[].secret=true) is also kept out of the diff and of the error messages.
options:
  files:
    description: The files to manage, in the order they are written.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path of the file. Its folder must exist or be in O(directories).
          An existing O(files[].dest) must be a regular file (not a link).
        type: path
        required: true
      content:
        description:
          - The whole content of the file, as text (written as UTF-8).
          - Exactly one of O(files[].content) and O(files[].src) is given.
        type: str
      src:
        description:
          - Absolute path of a regular file on the host whose bytes are the content, for
            instance a service's own copy of a certificate and key of the PKI. Read when the
            module runs, so the content never passes through the controller.
          - It must exist, also in check mode, and must not be a link.
        type: path
      mode:
        description: Permissions as a quoted string of four octal digits, such as C('0640').
        type: str
        required: true
      owner:
        description: Name (or numeric id) of the user owning the file.
        type: str
        default: root
      group:
        description: Name (or numeric id) of the group owning the file.
        type: str
        default: root
      validate:
        description:
          - Command checking the candidate before it replaces the file, such as
            C(/usr/sbin/sshd -t -f %s). It is split like a shell would (C(shlex)) but run
            without a shell; C(%s) in any argument is replaced by the candidate's path.
          - Not run in check mode, like C(ansible.builtin.template).
        type: str
      notify:
        description: A label of the caller's choice, returned in RV(notify) when this file
          changed, to decide which handlers to run.
        type: str
      secret:
        description: The content is secret. Its diff shows only that it changed, and a
          failing validator's output is not returned (it may quote the file). See the notes.
        type: bool
        default: false
      follow:
        description: When O(files[].dest) is a symbolic link, write the file it points to
          (for instance Debian 13's C(/etc/default/locale), a link to C(/etc/locale.conf))
          instead of failing. The link itself is kept.
        type: bool
        default: false
  directories:
    description:
      - Folders made (with any missing parent, as C(ansible.builtin.file) with
        C(state=directory)) or corrected before the files are written.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the folder.
        type: path
        required: true
      mode:
        description: Permissions as a quoted string of four octal digits, such as C('0755').
        type: str
        required: true
      owner:
        description: Name (or numeric id) of the user owning the folder.
        type: str
        default: root
      group:
        description: Name (or numeric id) of the group owning the folder.
        type: str
        default: root
      exclusive:
        description:
          - The folder holds only the files of O(files) that are in it. Any other file or
            link directly in it is removed, after the files are written (subfolders are
            left alone). For a folder whose every file the caller declares, such as a
            folder of extra CA certificates.
        type: bool
        default: false
      notify:
        description: A label returned in RV(notify) when a file of this O(directories[].exclusive)
          folder was removed.
        type: str
  applied_dir:
    description:
      - Folder of the stamps of the configuration the services were last loaded with
        (module_utils/teletreball_applied.py), normally C(/var/lib/teletreball/applied).
        Each file with a O(files[].notify) label is compared with its stamp; when they
        differ (a run was stopped after writing it but before its handler reloaded the
        service) its label is returned in RV(notify) and RV(pending) although the file is
        as wanted, and its new stamp in RV(stamps) (also for a file that changed now),
        for the module C(teletreball_applied) to record after the handlers succeeded.
        A stamp of a file an O(directories[].exclusive) folder no longer holds makes
        that folder's label pending too.
      - Omitted, no stamp is read.
    type: path
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written and no validator runs (the candidate would have to be
      written first). A missing owner or group is a warning.
  diff_mode:
    support: full
    details: One diff per changed content and one per changed mode, owner or group, as a
      list. A content marked O(files[].secret=true) is never shown.
notes:
  - Supports check mode and diff mode. In check mode nothing is written and no validator
    runs (the candidate would have to be written to run it); RV(changed_files) and
    RV(notify) list what would change. A missing owner or group is then a warning, since
    a task before this one may create it in a real run.
  - Diff mode returns one diff per changed file content and one per changed mode, owner or
    group (also for folders), as a list.
  - Contents are deliberately not C(no_log) suboptions. Ansible would hide every content
    in the diff too, would mask each content wherever it occurs as a substring of other
    output (a short content masks paths), and still logs multi-line values on the host.
    Pass secret files in their own task with C(no_log) on the task, so the controller never
    prints the task's arguments or result either; mark them O(files[].secret=true) so
    even a registered result or a diff never holds their content.
  - Attributes, SELinux contexts and backups are not managed.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Write the Asterisk configuration
  teletreball_files:
    directories:
      - path: /etc/asterisk/teletreball
        mode: "0750"
        group: asterisk
    files:
      - dest: /etc/asterisk/extensions.conf
        content: "{{ lookup('ansible.builtin.template', 'extensions.conf.j2') }}"
        mode: "0640"
        group: asterisk
        validate: /usr/local/sbin/teletreball-asterisk-check dialplan %s
        notify: dialplan
      - dest: /etc/asterisk/queues.conf
        content: "{{ lookup('ansible.builtin.template', 'queues.conf.j2') }}"
        mode: "0640"
        group: asterisk
        notify: queues
  register: pbx_files

# Handlers are notified by tasks that run on the controller only.
- name: Reload the dialplan when it changed
  ansible.builtin.debug:
    msg: "{{ pbx_files.changed_files }}"
  changed_when: "'dialplan' in pbx_files.notify"
  notify: Reload the dialplan

- name: Write the files holding passwords
  teletreball_files:
    files:
      - dest: /etc/asterisk/pjsip_auth.conf
        content: "{{ lookup('ansible.builtin.template', 'pjsip_auth.conf.j2') }}"
        mode: "0640"
        group: asterisk
        secret: true
        notify: pjsip
  register: pbx_secret_files
  no_log: true
"""

RETURN = r"""
changed_files:
  description: Files whose content, mode, owner or group changed (or would change in check
    mode), in the order of O(files). Also returned when the module fails.
  returned: always
  type: list
  elements: str
  sample: [/etc/asterisk/extensions.conf]
changed_directories:
  description: Folders made or corrected, in the order they were handled.
  returned: always
  type: list
  elements: str
removed_files:
  description: Files and links removed from O(directories[].exclusive) folders (or that would
    be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/usr/local/share/ca-certificates/teletreball/old-proxy.crt]
notify:
  description: The distinct O(files[].notify) labels of the files in RV(changed_files), and
    the O(directories[].notify) labels of the folders in which a file was removed, sorted.
    Also returned when the module fails.
  returned: always
  type: list
  elements: str
  sample: [dialplan]
pending:
  description: The labels of the files that did not change in this run but whose stamp
    in O(applied_dir) differs from their content (an earlier run wrote them and did not
    apply them). They are part of RV(notify) too.
  returned: always
  type: list
  elements: str
stamps:
  description: The stamps to record with C(teletreball_applied) once the handlers of
    RV(notify) succeeded, by file (null for a stamp to remove). Hashes only, never a content.
  returned: always
  type: dict
failed_dest:
  description: The file whose validator failed.
  returned: when a validator failed
  type: str
validate_rc:
  description: Exit status of the failed validator (null when it could not be started).
  returned: when a validator failed
  type: int
validate_stdout:
  description: Standard output of the failed validator, the candidate named by the file's path.
  returned: when a validator of a file that is not secret failed
  type: str
validate_stderr:
  description: Standard error of the failed validator, the candidate named by the file's path.
  returned: when a validator of a file that is not secret failed
  type: str
"""

import functools
import os
import shlex

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_applied import Pending
from ansible.module_utils.teletreball_hostfiles import (
    NotRegularFile,
    Problems,
    attribute_diff,
    attributes_differ,
    encode_content,
    install,
    output_of,
    read_regular,
    resolve_attributes,
    set_attributes,
    wanted_attributes,
)
from ansible.module_utils.teletreball_hostfiles import content_diff as plain_content_diff

HIDDEN = "NOT_LOGGING_PARAMETER"
NOT_SHOWN_BEFORE = "(secret content, not shown)\n"
NOT_SHOWN_AFTER = "(secret content, not shown; changed)\n"


class FilesModule(AnsibleModule):
    """An AnsibleModule that logs the paths it was given on the host, never the contents
    (AnsibleModule would log every argument, and no_log suboptions do not hide
    multi-line values there)."""

    def _log_invocation(self):
        files = [item["dest"] for item in self.params.get("files") or []]
        folders = [item["path"] for item in self.params.get("directories") or []]
        log_args = {"files": " ".join(files), "directories": " ".join(folders)}
        self.log(
            f"Invoked with files={log_args['files']} directories={log_args['directories']}"
            " (contents not logged)",
            log_args=log_args,
        )


def resolve_common(item, key, what, problems, warnings, check_mode):
    """Check the absolute path, the mode, the owner and the group of a file or folder;
    return (mode, uid, gid). An unknown owner or group is a problem, or in check mode a
    warning (and None)."""
    path = item[key]
    if not os.path.isabs(path):
        problems.append(f"{what} {path} must be an absolute path.")
    return resolve_attributes(item, problems, warnings, check_mode, of=f" of {path}")


def prepare(params, check_mode):
    """Validated folders and files, or Problems listing every problem found."""
    problems, warnings = [], []
    folders = []
    for item in params["directories"]:
        mode, uid, gid = resolve_common(item, "path", "folder", problems, warnings, check_mode)
        folders.append(dict(item, path=os.path.normpath(item["path"]), mode_bits=mode,
                            uid=uid, gid=gid))
    files, seen = [], set()
    for item in params["files"]:
        dest = item["dest"]
        mode, uid, gid = resolve_common(item, "dest", "file", problems, warnings, check_mode)
        dest = os.path.normpath(dest)
        if dest in seen:
            problems.append(f"file {dest} is listed twice.")
        seen.add(dest)
        argv = None
        if item["validate"] is not None:
            try:
                argv = shlex.split(item["validate"])
            except ValueError as exc:
                problems.append(f"validate of {dest} cannot be split into arguments: {exc}.")
            else:
                if not any("%s" in arg for arg in argv):
                    problems.append(f"validate of {dest} must contain %s (the candidate file).")
        if (item["content"] is None) == (item["src"] is None):
            problems.append(f"file {dest} needs exactly one of content and src.")
            data = b""
        elif item["src"] is not None:
            data = read_source(item["src"], dest, problems)
        else:
            data = encode_content(item["content"], problems, of=f" of {dest}")
        files.append(dict(item, dest=dest, data=data, mode_bits=mode, uid=uid, gid=gid,
                          argv=argv))
    if problems:
        raise Problems.of(problems)
    return folders, files, warnings


def read_source(src, dest, problems):
    """The bytes of ``src``, the source of ``dest`` on the host (b"" and a problem
    when it cannot be read)."""
    if not os.path.isabs(src):
        problems.append(f"src {src} of {dest} must be an absolute path.")
        return b""
    try:
        info, data = read_regular(src)
    except NotRegularFile:
        problems.append(f"src {src} of {dest} is not a regular file (a link, a folder...).")
        return b""
    except OSError as exc:
        problems.append(f"Cannot read src {src} of {dest}: {exc}.")
        return b""
    if info is None:
        problems.append(f"src {src} of {dest} does not exist.")
        return b""
    return data


def missing_folders(path):
    """``path`` and its missing parents, outermost first; fails if one of them
    exists but is not a folder."""
    missing = []
    while not os.path.isdir(path):
        if os.path.lexists(path):
            raise OSError(f"{path} exists and is not a folder")
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return list(reversed(missing))


class Run:
    """One call: the changes made so far, so a failure can still report them."""

    def __init__(self, module):
        self.module = module
        self.check_mode = module.check_mode
        self.changed_files = []
        self.changed_directories = []
        self.removed_files = []
        self.notify = set()
        self.diff = []
        self.planned_folders = set()  # folders that check mode pretends to have made
        self.pending = Pending(module.params.get("applied_dir"))

    def result(self):
        result = {
            "changed": bool(self.changed_files or self.changed_directories
                            or self.removed_files),
            "changed_files": self.changed_files,
            "changed_directories": self.changed_directories,
            "removed_files": self.removed_files,
            "notify": sorted(self.notify | self.pending.labels),
        }
        result.update(self.pending.result())
        if self.module._diff:
            result["diff"] = self.diff
        return result

    def fail(self, msg, **extra):
        if self.changed_files:
            msg = msg.rstrip() + "\nAlready changed in this call: " + ", ".join(
                self.changed_files) + "."
        result = self.result()
        result.update(extra)
        self.module.fail_json(msg=msg, invocation=invocation(self.module.params), **result)

    # --- folders ------------------------------------------------------------------------

    def folder(self, item):
        path = item["path"]
        try:
            missing = missing_folders(path)
        except OSError as exc:
            self.fail(f"Cannot make the folder {path}: {exc}.")
        if missing:
            self.changed_directories.append(path)
            self.diff.append({
                "before_header": path, "after_header": path,
                "before": {"path": path, "state": "absent"},
                "after": dict(wanted_attributes(item), path=path, state="directory"),
            })
            if self.check_mode:
                self.planned_folders.update(missing)
                return
            try:
                for folder in missing:
                    os.mkdir(folder, 0o700)
                    set_attributes(folder, item)
            except OSError as exc:
                self.fail(f"Cannot make the folder {path}: {exc}.")
            return
        info = os.stat(path)
        if not attributes_differ(info, item):  # an unknown owner (check mode) differs
            return
        self.changed_directories.append(path)
        self.diff.append(attribute_diff(path, info, item))
        if not self.check_mode:
            try:
                set_attributes(path, item)
            except OSError as exc:
                self.fail(f"Cannot set the mode, owner and group of the folder {path}: {exc}.")

    def prune(self, item, declared):
        """Remove what an exclusive folder holds besides the declared files."""
        path = item["path"]
        try:
            entries = sorted(os.scandir(path), key=lambda entry: entry.name)
        except FileNotFoundError:
            return  # check mode: the folder would be made, empty
        except OSError as exc:
            self.fail(f"Cannot list the folder {path}: {exc}.")
        for entry in entries:
            if entry.path in declared or entry.is_dir(follow_symlinks=False):
                continue
            if not self.check_mode:
                try:
                    os.unlink(entry.path)
                except OSError as exc:
                    self.fail(f"Cannot remove {entry.path}: {exc}.")
            self.removed_files.append(entry.path)
            self.diff.append({"before_header": entry.path, "after_header": entry.path,
                              "before": {"path": entry.path, "state": "file"},
                              "after": {"path": entry.path, "state": "absent"}})
            if item["notify"]:
                self.notify.add(item["notify"])

    # --- files --------------------------------------------------------------------------

    def file(self, item):
        if item["follow"] and os.path.islink(item["dest"]):
            item["dest"] = os.path.realpath(item["dest"])
        dest = item["dest"]
        folder = os.path.dirname(dest)
        if not os.path.isdir(folder) and folder not in self.planned_folders:
            self.fail(f"The folder of {dest} does not exist; add it to directories.")
        try:
            info, before = read_regular(dest)
        except NotRegularFile:
            self.fail(f"{dest} exists and is not a regular file (a link, a folder...); "
                      "this module writes regular files only.")
        except OSError as exc:
            self.fail(f"Cannot read {dest}: {exc}.")
        diffs = []
        if before != item["data"]:
            diffs.append(content_diff(item, before))
        if info is not None and attributes_differ(info, item):
            diffs.append(attribute_diff(dest, info, item))
        if not diffs:
            self.pending.compare(dest, item["data"], [item["notify"]])
            return
        if not self.check_mode:
            try:
                if before != item["data"]:
                    self.replace(item)
                else:
                    set_attributes(dest, item)
            except OSError as exc:
                self.fail(f"Cannot write {dest}: {exc}.")
        self.changed_files.append(dest)
        if item["notify"]:
            self.notify.add(item["notify"])
        self.pending.compare(dest, item["data"], [item["notify"]], changed=True)
        self.diff.extend(diffs)

    def replace(self, item):
        """Write the candidate next to the file, check it, rename it over the file."""
        check = None if item["argv"] is None else functools.partial(self.validate, item)
        install(item["dest"], item["data"], item["uid"], item["gid"], item["mode_bits"], check)

    def validate(self, item, candidate):
        dest = item["dest"]
        argv = [arg.replace("%s", candidate) for arg in item["argv"]]
        try:
            rc, out, err = self.module.run_command(
                argv, expand_user_and_vars=False, handle_exceptions=False
            )
        except OSError as exc:
            self.fail(f"{dest} was not changed: its validator {item['validate']!r} could "
                      f"not run: {exc}.", failed_dest=dest, validate_rc=None)
        if rc == 0:
            return
        extra = {"failed_dest": dest, "validate_rc": rc}
        if item["secret"]:
            output = "(output not shown: the file is secret)"
        else:
            out, err = out.replace(candidate, dest), err.replace(candidate, dest)
            extra.update(validate_stdout=out, validate_stderr=err)
            output = output_of(out, err)
        # The output names the candidate by the file's path (replaced above).
        self.fail(f"{dest} was not changed: the new content failed validation "
                  f"({item['validate']!r} exited with {rc}):\n{output}", **extra)


def content_diff(item, before):
    if item["secret"]:
        # The headers only: neither content is decoded or shown.
        diff = plain_content_diff(item, None if before is None else b"")
        diff["before"] = "" if before is None else NOT_SHOWN_BEFORE
        diff["after"] = NOT_SHOWN_AFTER
        return diff
    if before is not None and b"\0" in before:
        return {"dst_binary": 1}
    return plain_content_diff(item, before)


def invocation(params):
    """The arguments to return with the result: every content replaced by a marker."""
    shown = dict(params)
    shown["files"] = [dict(item, content=None if item["content"] is None else HIDDEN)
                      for item in params["files"]]
    return {"module_args": shown}


def main():
    common = {
        "mode": {"type": "str", "required": True},
        "owner": {"type": "str", "default": "root"},
        "group": {"type": "str", "default": "root"},
    }
    module = FilesModule(
        argument_spec={
            "files": {
                "type": "list", "elements": "dict", "required": True,
                "options": dict(
                    common,
                    dest={"type": "path", "required": True},
                    content={"type": "str"},
                    src={"type": "path"},
                    validate={"type": "str"},
                    notify={"type": "str"},
                    secret={"type": "bool", "default": False},
                    follow={"type": "bool", "default": False},
                ),
            },
            "directories": {
                "type": "list", "elements": "dict", "default": [],
                "options": dict(common, path={"type": "path", "required": True},
                                exclusive={"type": "bool", "default": False},
                                notify={"type": "str"}),
            },
            "applied_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    try:
        folders, files, warnings = prepare(module.params, module.check_mode)
    except Problems as exc:
        module.fail_json(msg=f"teletreball_files: {exc}", invocation=invocation(module.params),
                         changed=False, changed_files=[], changed_directories=[],
                         removed_files=[], notify=[], pending=[], stamps={})
    for warning in warnings:
        module.warn(warning)
    run = Run(module)
    for item in folders:
        run.folder(item)
    for item in files:
        run.file(item)
    declared = {item["dest"] for item in files}
    for item in folders:
        if item["exclusive"]:
            run.prune(item, declared)
            run.pending.forget_others(item["path"], declared, item["notify"],
                                      removed=run.removed_files)
    module.exit_json(invocation=invocation(module.params), **run.result())


if __name__ == "__main__":
    main()
