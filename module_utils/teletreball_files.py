# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private files of the credentials folder: folders 0700, files 0600, atomic writes."""

from __future__ import annotations

import os
import tempfile


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


def append_audit(base, lines):
    """Append ``lines`` to ``<base>/audit.log`` (created 0600, folder 0700)."""
    private_makedirs(base)
    fd = os.open(os.path.join(base, "audit.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.writelines(lines)


def qr_png(module, text):
    """``text`` as a QR code PNG (bytes), made with the qrencode command; the same
    text always gives the same bytes."""
    rc, out, err = module.run_command(
        [module.get_bin_path("qrencode", required=True), "-t", "PNG", "-o", "-"],
        data=text, binary_data=True, encoding=None,
    )
    if rc != 0:
        module.fail_json(msg=f"qrencode failed: {err.decode(errors='replace')}")
    return out
