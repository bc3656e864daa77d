# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private files of the credentials folder: folders 0700, files 0600, atomic writes."""

from __future__ import annotations

import io
import os
import tempfile
import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import segno
except ImportError:  # reported by qr_code, only when a QR code is needed
    segno = None
    SEGNO_IMPORT_ERROR = traceback.format_exc()
else:
    SEGNO_IMPORT_ERROR = None


def private_makedirs(path):
    """Create ``path`` and any missing parent, each new folder with mode 0700."""
    path = os.path.abspath(path)
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:  # made meanwhile by a parallel run (another host's)
            continue
        os.chmod(folder, 0o700)  # mkdir honours the umask


def atomic_write(path, content):
    """Replace ``path`` with ``content`` (text or bytes) in one step, mode 0600;
    no partial file is left."""
    folder = os.path.dirname(path)
    private_makedirs(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=folder)
    binary = isinstance(content, bytes)
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fsync_dir(path):
    """Flush a folder's entries (a rename in it) to the disk."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def durable_write(path, content):
    """atomic_write, then the folder flushed too: the new file survives a power cut."""
    atomic_write(path, content)
    fsync_dir(os.path.dirname(path) or ".")


def append_audit(base, lines):
    """Append ``lines`` to ``<base>/audit.log`` (created 0600, folder 0700)."""
    private_makedirs(base)
    fd = os.open(os.path.join(base, "audit.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.writelines(lines)


def qr_code(module, text):
    """``text`` as a segno QR code object (error correction M, no micro code).
    Fails the module with a clear message when segno is missing."""
    if segno is None:
        module.fail_json(
            msg=missing_required_lib("segno") + " It draws the QR codes of the welcome "
            "packs: install requirements-controller.txt into the Python that runs "
            "ansible-playbook (make controller).",
            exception=SEGNO_IMPORT_ERROR,
        )
    return segno.make(text, error="m", micro=False)


def qr_png(module, text):
    """``text`` as a QR code PNG (bytes), made with segno: 4 pixels a module and a
    quiet zone of 4 modules. PNG holds no time: the same text always gives the
    same bytes."""
    buffer = io.BytesIO()
    qr_code(module, text).save(buffer, kind="png", scale=4, border=4)
    return buffer.getvalue()
