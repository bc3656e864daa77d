# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files of a host that a module writes whole: their mode, owner and group, their diffs,
and the replacement by a hidden candidate renamed over the file.

A file is described by a dict (an "item") with the keys ``dest``, ``content`` (text),
``data`` (its UTF-8 bytes), ``mode`` (four octal digits, as given), ``mode_bits`` (int),
``owner``, ``group`` (as given), ``uid`` and ``gid`` (None when unknown, check mode only).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
import tempfile

MODE_RE = re.compile(r"^[0-7]{4}$")


class Problems(Exception):
    """Bad arguments, all of them in one message."""

    @classmethod
    def of(cls, problems):
        return cls("\n- ".join([f"{len(problems)} problem(s):"] + problems))


class NotRegularFile(Exception):
    """The path exists but is a link, a folder... (not an OSError: callers word it)."""


# --- owners and groups ------------------------------------------------------------------


def user_id(name):
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return int(name) if name.isdigit() else None


def group_id(name):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return int(name) if name.isdigit() else None


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def parse_mode(value, what, problems):
    """The bits of ``value``, a quoted four-digit octal string; otherwise a problem
    naming ``what`` (and None)."""
    if MODE_RE.fullmatch(value):
        return int(value, 8)
    problems.append(f"{what} must be four octal digits in a quoted string, such as '0640',"
                    f" not {value!r}.")
    return None


def resolve_ids(owner, group, problems, warnings, check_mode, of=""):
    """(uid, gid) of ``owner`` and ``group``; an unknown one is a problem, or in check
    mode a warning (and None). ``of`` ends the messages' subject."""
    ids = []
    for field, name, lookup, kind in (("owner", owner, user_id, "user"),
                                      ("group", group, group_id, "group")):
        value = lookup(name)
        if value is None:
            message = f"{field} '{name}'{of} is not a {kind} on this host."
            if check_mode:
                warnings.append(message + " It may be created before this task in a real run.")
            else:
                problems.append(message)
        ids.append(value)
    return ids[0], ids[1]


def resolve_attributes(params, problems, warnings, check_mode, of=""):
    """(mode_bits, uid, gid) of ``params`` (its ``mode``, ``owner``, ``group``); a bad mode
    is a problem (and None), an unknown owner or group a problem, or in check mode a
    warning (and None). ``of`` ends the messages' subject, such as " of /etc/x.conf"."""
    mode = parse_mode(params["mode"], f"mode{of}", problems)
    uid, gid = resolve_ids(params["owner"], params["group"], problems, warnings, check_mode, of)
    return mode, uid, gid


def encode_content(text, problems, of=""):
    """``text`` as UTF-8 bytes; text that cannot be encoded is a problem (and b"")."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        problems.append(f"content{of} is not valid text: {exc.reason}.")
        return b""


# --- what is there ----------------------------------------------------------------------


def read_regular(path):
    """(lstat, bytes) of the regular file at ``path``, or (None, None) when there is none;
    NotRegularFile when something else is there, OSError when it cannot be read."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, None
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(path)
    with open(path, "rb") as handle:
        return info, handle.read()


def attributes(info):
    return {
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
        "owner": user_name(info.st_uid),
        "group": group_name(info.st_gid),
    }


def wanted_attributes(item):
    return {"mode": f"{item['mode_bits']:04o}", "owner": item["owner"], "group": item["group"]}


def attributes_differ(info, item):
    """An unknown owner or group (None, in check mode) differs."""
    return (
        stat.S_IMODE(info.st_mode) != item["mode_bits"]
        or info.st_uid != item["uid"]
        or info.st_gid != item["gid"]
    )


def set_attributes(path, item):
    os.chown(path, item["uid"], item["gid"])
    os.chmod(path, item["mode_bits"])  # after chown, which may clear setuid bits


# --- diffs ------------------------------------------------------------------------------


def content_diff(item, before):
    """The diff of the content: ``before`` (bytes, None for a new file) to the item's."""
    dest = item["dest"]
    diff = {"before_header": dest, "after_header": dest}
    if before is None:
        diff["after_header"] = (
            f"{dest} (new, mode {item['mode']}, owner {item['owner']}, group {item['group']})"
        )
    diff["before"] = "" if before is None else before.decode("utf-8", errors="replace")
    diff["after"] = item["content"]
    return diff


def attribute_diff(path, info, item):
    header = f"{path} (mode, owner, group)"
    return {
        "before_header": header, "after_header": header,
        "before": attributes(info), "after": wanted_attributes(item),
    }


# --- writing ----------------------------------------------------------------------------


def write_hidden(folder, name, data, uid, gid, mode_bits):
    """A hidden file ``.<name>.<random>`` in ``folder`` holding ``data``, with its final
    mode, owner and group, synced to disk; its path."""
    fd, path = tempfile.mkstemp(prefix=f".{name}.", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode_bits)  # after fchown (setuid bits)
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(path)
        raise
    return path


def sync_folder(folder):
    """Make a rename or an unlink durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install(dest, data, uid, gid, mode_bits, check=None):
    """Put ``data`` at ``dest`` with one rename: a hidden candidate in the same folder
    (see write_hidden), given first to ``check(candidate)`` when there is one, then
    renamed over ``dest``. The candidate never stays behind, also when ``check`` fails
    the module (SystemExit passes through here)."""
    folder, name = os.path.split(dest)
    candidate = write_hidden(folder, name, data, uid, gid, mode_bits)
    try:
        if check is not None:
            check(candidate)
        os.replace(candidate, dest)
        sync_folder(folder)
    finally:
        if os.path.lexists(candidate):
            os.unlink(candidate)


def output_of(out, err):
    """The standard output and error of a command, as one text for a message."""
    return "\n".join(part.strip() for part in (out, err) if part.strip()) or "(no output)"
