# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A lock file on the controller held by an ansible-playbook process.

A module cannot hold a lock beyond its own process, so the lock names the
``ansible-playbook`` process the module runs under (its process number, its start time in
clock ticks from ``/proc/<pid>/stat`` and the machine's boot ID): it is held for as long as
that process lives, and a lock whose process no longer exists (a killed run, a reused
process number, a reboot) is free and taken over at once. The file is created with
``O_EXCL``, so of two runs that find no lock exactly one creates it.

Used by the modules teletreball_build_lock (one build into the package cache) and
teletreball_run_lock (one run per credentials folder).
"""

from __future__ import annotations

import json
import os
import time

BOOT_ID = "/proc/sys/kernel/random/boot_id"
# Seconds a lock may stay unreadable (its holder is writing it) before it counts as damaged.
UNREADABLE_GRACE = 10


class LockTimeout(Exception):
    """Another live run held the lock for the whole wait; ``holder`` is its content."""

    def __init__(self, holder, message="held by another run"):
        super().__init__(message)
        self.holder = holder


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _boot_id():
    try:
        return _read(BOOT_ID).strip()
    except OSError:
        return ""


def _stat(pid):
    """(parent pid, start time in clock ticks) of ``pid``, or None when it is gone."""
    try:
        text = _read(f"/proc/{pid}/stat")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[19]


def cmdline(pid):
    """The arguments of process ``pid`` ([] when it is gone)."""
    try:
        return _read(f"/proc/{pid}/cmdline").rstrip("\0").split("\0")
    except OSError:
        return []


def _is_playbook(pid):
    return any(os.path.basename(arg).startswith("ansible-playbook") for arg in cmdline(pid)[:3])


def owner_process(start_pid=None):
    """The ansible-playbook process this module runs under: the first one above
    ``start_pid`` (default: this process), then up through the processes it forked
    (its task workers carry the same command line), so a lock outlives the task.
    Without one (a module run outside a playbook) the parent."""
    pid = start_pid or os.getpid()
    while pid > 1 and not _is_playbook(pid):
        info = _stat(pid)
        if info is None:
            pid = 0
            break
        pid = info[0]
    if pid <= 1:
        return os.getppid() if start_pid is None else start_pid
    while True:
        info = _stat(pid)
        if info is None or info[0] <= 1 or not _is_playbook(info[0]):
            return pid
        pid = info[0]


def identity(pid):
    info = _stat(pid)
    return {"pid": pid, "start": info[1] if info else "", "boot_id": _boot_id()}


def same_process(holder, me):
    return (holder.get("pid"), holder.get("start"), holder.get("boot_id")) == (
        me["pid"], me["start"], me["boot_id"])


def is_alive(holder):
    """Whether the process recorded in a lock still exists (same boot, same start)."""
    if holder.get("boot_id") != _boot_id():
        return False
    try:
        pid = int(holder.get("pid", 0))
    except (TypeError, ValueError):
        return False
    info = _stat(pid)
    return info is not None and info[1] == holder.get("start")


def read_holder(path):
    """The lock's content; None when there is no lock; {} when it cannot be read."""
    try:
        text = _read(path)
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def try_create(path, content):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    return True


def acquire(path, me, content, timeout, poll, done=None, grace=UNREADABLE_GRACE, take=True):
    """Take the lock ``path`` for the process ``me`` (see identity), writing ``content``
    (a dict, written as JSON with ``me``): wait while another live process holds it, at
    most ``timeout`` seconds (then LockTimeout), take over a lock of a dead process or
    one that stays unreadable ``grace`` seconds. ``done``: a file whose appearance ends
    the wait without the lock. ``take=False`` (check mode) only waits for a live holder
    and writes nothing. Returns {acquired, done, waited, took_over (when it happened)}."""
    text = json.dumps(dict(content, **me)) + "\n"
    started = time.monotonic()
    result = {"acquired": False, "done": False}
    unreadable_since = None
    while True:
        if done and os.path.exists(done):
            result["done"] = True
            break
        holder = None
        if take and try_create(path, text):
            result["acquired"] = True
            break
        holder = read_holder(path)
        if holder is None:
            if not take:
                break  # nobody holds it
            continue  # given back between our two looks
        if same_process(holder, me):
            result["acquired"] = take  # already ours: taking it twice is harmless
            break
        if holder:
            unreadable_since = None
            if not is_alive(holder):
                result["took_over"] = holder
                if not take:
                    break
                os.unlink(path)
                continue
        else:
            # Being written by its holder, or damaged: damaged when it stays so.
            unreadable_since = unreadable_since or time.monotonic()
            if time.monotonic() - unreadable_since >= grace:
                result["took_over"] = {}
                if not take:
                    break
                os.unlink(path)
                continue
        if time.monotonic() - started >= timeout:
            raise LockTimeout(holder)
        time.sleep(poll)
    result["waited"] = round(time.monotonic() - started, 1)
    return result


def release(path, me):
    """Remove the lock when ``me`` holds it; leave another run's lock alone."""
    holder = read_holder(path)
    if holder is None:
        return {"released": False}
    if holder and not same_process(holder, me):
        return {"released": False, "held_by": holder}
    os.unlink(path)
    return {"released": True}


def hold_run_lock(credentials_dir, playbook, timeout, undone, poll=2):
    """Hold the run lock of a credentials folder (``<folder>.lock``) for a module that
    runs on its own, such as a backup or a step of a CA rotation. Returns ``(path, me,
    give_back)``: ``give_back`` is false when the playbook that runs the module already
    held the lock (its preflight took it), so the module must leave it. Raises
    LockTimeout when another run keeps it longer than ``timeout`` seconds, with a message
    for the person that names the folder, the lock and the other run's process, and says
    what the module left ``undone`` (for example "the backup wrote nothing")."""
    path = os.path.normpath(credentials_dir) + ".lock"
    me = identity(owner_process())
    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    before = read_holder(path)
    ours_already = bool(before) and same_process(before, me)
    try:
        acquire(path, me, {"user": str(os.getuid()), "playbooks": [playbook]}, timeout, poll)
    except LockTimeout as exc:
        raise LockTimeout(exc.holder, (
            f"Another run is using the credentials folder {credentials_dir} (lock {path}, "
            f"process {exc.holder.get('pid', '?')}): {undone} after waiting {timeout} s. "
            "Run it again when that run has ended.")) from exc
    return path, me, not ours_already
