# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stamps of the configuration each service was last loaded with.

A run stopped after it wrote a configuration file but before the handler reloaded the
service (Ctrl-C, a lost connection, a killed controller) would leave the file unapplied for
good: the next run finds the file as wanted and notifies nothing. So, after a role's
handlers checked and reloaded its services, the role records a stamp per file (module
teletreball_applied): the SHA-256 of the content the service was loaded with and the
labels (handlers) of the file. The modules that write the files (teletreball_files,
teletreball_lines) compare every managed file's wanted content with its stamp in the
same module run and return the labels of the files whose stamp differs as "notify", as
if the file had just changed: the interrupted reload is done by the next run.

A stamp is the file ``<folder>/<dest, percent-encoded>`` holding JSON
``{"dest", "sha256", "notify"}``; only root can read the folder (0700).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.parse

FOLDER = "/var/lib/teletreball/applied"


def digest(data):
    return hashlib.sha256(data).hexdigest()


def stamp_path(folder, dest):
    return os.path.join(folder, urllib.parse.quote(dest, safe=""))


def read_stamp(folder, dest):
    """The stamp of ``dest`` (a dict), or None when there is none or it is damaged."""
    try:
        with open(stamp_path(folder, dest), encoding="utf-8") as handle:
            stamp = json.load(handle)
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def stamps_in(folder, parent):
    """{dest: stamp} of the stamped files directly in the folder ``parent``."""
    try:
        names = os.listdir(folder)
    except OSError:
        return {}
    found = {}
    for name in names:
        dest = urllib.parse.unquote(name)
        if not name.startswith(".") and os.path.dirname(dest) == parent:
            stamp = read_stamp(folder, dest)
            if stamp is not None:
                found[dest] = stamp
    return found


class Pending:
    """The comparison of one module run's files with their stamps in ``folder`` (None:
    no stamps, nothing pending)."""

    def __init__(self, folder):
        self.folder = folder
        self.labels = set()
        self.stamps = {}

    def compare(self, dest, data, labels, changed=False):
        """Note ``dest``, wanted with the bytes ``data``, applied by the handlers of
        ``labels``: when its stamp differs, its new stamp is to be recorded, and its
        labels are pending unless the file ``changed`` in this run (then the caller
        notifies them anyway: pending names the reloads an earlier run left undone)."""
        labels = sorted(label for label in labels if label)
        if self.folder is None or not labels:
            return
        wanted = {"dest": dest, "sha256": digest(data), "notify": labels}
        if read_stamp(self.folder, dest) != wanted:
            if not changed:
                self.labels.update(labels)
            self.stamps[dest] = wanted

    def forget_others(self, parent, declared, label, removed=()):
        """The stamps of files directly in ``parent`` that are no longer declared (an
        exclusive folder removes them): stamp to remove, and ``label`` pending unless
        the file was ``removed`` in this run."""
        if self.folder is None or not label:
            return
        for dest in stamps_in(self.folder, parent):
            if dest not in declared:
                if dest not in removed:
                    self.labels.add(label)
                self.stamps[dest] = None

    def result(self):
        return {"pending": sorted(self.labels), "stamps": self.stamps}


def record(folder, stamps, check_mode=False):
    """Write (or remove, for None) the stamps of ``stamps`` ({dest: stamp}); the folder
    is made 0700. Returns the dests whose stamp changed."""
    changed = []
    for dest in sorted(stamps):
        stamp = stamps[dest]
        path = stamp_path(folder, dest)
        if stamp is None:
            if os.path.lexists(path):
                changed.append(dest)
                if not check_mode:
                    os.unlink(path)
            continue
        if read_stamp(folder, dest) == stamp:
            continue
        changed.append(dest)
        if check_mode:
            continue
        if not os.path.isdir(folder):
            os.makedirs(folder, 0o700)
        write(path, (json.dumps(stamp, sort_keys=True) + "\n").encode("utf-8"))
    return changed


def write(path, data):
    """``data`` at ``path`` (0600) with one rename of a synced hidden candidate."""
    folder, name = os.path.split(path)
    fd, candidate = tempfile.mkstemp(prefix=f".{name}.", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(candidate, path)
    finally:
        if os.path.lexists(candidate):
            os.unlink(candidate)
