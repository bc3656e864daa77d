# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only probe of the role conference on the chat server (run as python3 -c).

Prints one JSON object: {"modules": {"plugins": [...], "transports": [...],
"loggers": [...], "events": [...]}, "addresses": [...]}: the file names of
Janus's modules in each of its folders (every architecture's library folder),
and the host's global IPv4 addresses, loopback excluded.
"""

import glob
import json
import os
import subprocess

KINDS = ("plugins", "transports", "loggers", "events")


def modules():
    found = {kind: set() for kind in KINDS}
    for kind in KINDS:
        paths = glob.glob(f"/usr/lib/*/janus/{kind}/*.so")
        paths += glob.glob(f"/usr/lib/janus/{kind}/*.so")
        found[kind].update(os.path.basename(path) for path in paths)
    return {kind: sorted(names) for kind, names in found.items()}


def addresses():
    command = ["ip", "-j", "-4", "addr", "show", "scope", "global"]  # iproute2, on PATH
    listing = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    links = json.loads(listing or "[]")
    return sorted({info["local"] for link in links for info in link.get("addr_info", [])
                   if "local" in info})


print(json.dumps({"modules": modules(), "addresses": addresses()}))
