#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: WireGuard keys and client profiles of every VPN device, in one step."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_vpn_clients
short_description: Keep the WireGuard keys and client profiles of every VPN device
description:
  - For each device, keeps in the person's welcome pack folder
    C(<directory>/people/<username>/vpn/) a preshared key (C(<device>.psk)), the
    device's key pair (C(<device>.key), C(<device>.pub)) when O(key_mode=generated),
    the client profile C(<device>.conf) and, when O(qr_code=true), the same profile
    as a QR code C(<device>.png) for phones (drawn with the Python library segno).
  - Keys are generated once and reused; profiles are rewritten only when their
    content changes. Files are 0600, folders 0700, writes atomic.
  - Files of a device that is no longer listed, for a person still present, move
    to C(<directory>/revoked/vpn/<username>-<device>-<UTC time>/) and the move is
    written to C(<directory>/audit.log).
  - Returns the peers the gateway needs. One task for every device; runs on the
    controller. Use C(no_log) on the task.
options:
  directory:
    description: The credentials directory of the inventory.
    type: path
    required: true
  devices:
    description: The devices of present people.
    type: list
    elements: dict
    required: true
    suboptions:
      username:
        description: Owner of the device.
        type: str
        required: true
      device:
        description: Name of the device.
        type: str
        required: true
      address:
        description: The device's VPN address.
        type: str
        required: true
  people:
    description:
      - Usernames of every present person. Only their folders are searched for
        devices to revoke (absent people's folders are archived whole elsewhere).
    type: list
    elements: str
    required: true
  key_mode:
    description:
      - C(generated) makes the device's key pair here and puts the private key in the profile.
      - C(supplied) takes the public key from O(supplied_public_keys); no private key
        exists outside the device and the profile has a placeholder for it.
    type: str
    choices: [generated, supplied]
    default: generated
  supplied_public_keys:
    description: C(username/device) to the device's WireGuard public key (key_mode=supplied).
    type: dict
    default: {}
  gateway_public_key:
    description: The gateway's WireGuard public key.
    type: str
    required: true
  endpoint:
    description: C(host:port) the devices connect to.
    type: str
    required: true
  allowed_ips:
    description: Networks sent through the tunnel (split tunnel), or C(0.0.0.0/0) for all.
    type: list
    elements: str
    required: true
  dns:
    description: DNS servers for the devices while the tunnel is up.
    type: list
    elements: str
    default: []
  mtu:
    description: MTU of the client interface; omitted when 0.
    type: int
    default: 0
  keepalive:
    description: PersistentKeepalive in seconds; omitted when 0.
    type: int
    default: 25
  qr_code:
    description: Write a QR code PNG of each profile.
    type: bool
    default: true
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written and new keys are not made.
  diff_mode:
    support: full
    details: Names the files written and the devices revoked, never a key.
requirements:
  - cryptography, segno (QR codes), on the controller
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Keep the keys and profiles of every VPN device
  teletreball_vpn_clients:
    directory: "{{ teletreball_credentials_dir }}"
    devices: [{username: anna, device: laptop, address: 10.99.0.2}]
    people: [anna]
    gateway_public_key: "{{ gateway_public_key }}"
    endpoint: vpn.ajuntament.example:51820
    allowed_ips: [10.20.30.0/24]
  no_log: true
  register: vpn_clients
"""

RETURN = r"""
peers:
  description: One entry per device, for the gateway configuration.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: C(username/device).
      type: str
    public_key:
      description: The device's public key.
      type: str
    preshared_key:
      description: The preshared key of the device and the gateway (secret).
      type: str
    address:
      description: The device's VPN address.
      type: str
written:
  description: Files written, relative to the credentials directory.
  returned: success
  type: list
  elements: str
revoked:
  description: C(username/device) of each device revoked by this run.
  returned: success
  type: list
  elements: str
"""

import base64
import binascii
import datetime
import os
import re
import secrets
import shutil

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.teletreball_directory import USERNAME_RE
from ansible.module_utils.teletreball_files import (
    append_audit,
    atomic_write,
    private_makedirs,
    qr_png,
)

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

DEVICE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
SUFFIXES = (".conf", ".png", ".key", ".pub", ".psk")
PRIVATE_KEY_PLACEHOLDER = "<the private key made on this device>"


def is_wg_key(value):
    try:
        return isinstance(value, str) and len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def new_private_key():
    raw = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode()


def public_key_of(private_key):
    key = X25519PrivateKey.from_private_bytes(base64.b64decode(private_key))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


def profile(params, device, private_key, preshared_key):
    lines = [
        f"# teletreball VPN profile of {device['username']}, device {device['device']}.",
        "# Keep this file secret: it opens the council's network.",
        "[Interface]",
        f"PrivateKey = {private_key}",
        f"Address = {device['address']}/32",
    ]
    if params["dns"]:
        lines.append(f"DNS = {', '.join(params['dns'])}")
    if params["mtu"]:
        lines.append(f"MTU = {params['mtu']}")
    lines += [
        "",
        "[Peer]",
        f"PublicKey = {params['gateway_public_key']}",
        f"PresharedKey = {preshared_key}",
        f"Endpoint = {params['endpoint']}",
        f"AllowedIPs = {', '.join(params['allowed_ips'])}",
    ]
    if params["keepalive"]:
        lines.append(f"PersistentKeepalive = {params['keepalive']}")
    return "\n".join(lines) + "\n"


class Run:
    """The work of one module run: what to write, what was written."""

    def __init__(self, module):
        self.module = module
        self.base = module.params["directory"]
        self.written = []

    def ensure(self, relative, content):
        """Write text ``content`` to ``relative`` if it differs; return the content."""
        path = os.path.join(self.base, relative)
        if read(path) != content.strip():
            self.written.append(relative)
            if not self.module.check_mode:
                atomic_write(path, content)
        return content

    def secret(self, relative, make):
        """Return the stored secret at ``relative``, making and storing it when missing."""
        value = read(os.path.join(self.base, relative))
        if value is None:
            value = make()
            self.ensure(relative, value + "\n")
        return value


def check_params(module):
    params = module.params
    if not os.path.isabs(params["directory"]):
        module.fail_json(msg=f"directory must be an absolute path, not {params['directory']}.")
    if not is_wg_key(params["gateway_public_key"]):
        module.fail_json(msg="gateway_public_key is not a WireGuard key (base64 of 32 bytes).")
    for device in params["devices"]:
        name = f"{device['username']}/{device['device']}"
        if not (USERNAME_RE.fullmatch(device["username"])
                and DEVICE_RE.fullmatch(device["device"])):
            module.fail_json(msg=f"'{name}' is not a valid username/device.")
        if params["key_mode"] == "supplied" and not is_wg_key(
            params["supplied_public_keys"].get(name)
        ):
            module.fail_json(
                msg=f"vpn_supplied_public_keys['{name}'] is missing or not a WireGuard public "
                "key (base64 of 32 bytes); with vpn_client_keys: supplied every device needs one."
            )


def main():
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "devices": {
                "type": "list", "elements": "dict", "required": True,
                "options": {
                    "username": {"type": "str", "required": True},
                    "device": {"type": "str", "required": True},
                    "address": {"type": "str", "required": True},
                },
            },
            "people": {"type": "list", "elements": "str", "required": True},
            "key_mode": {
                "type": "str", "choices": ["generated", "supplied"], "default": "generated",
            },
            "supplied_public_keys": {"type": "dict", "default": {}},
            "gateway_public_key": {"type": "str", "required": True},
            "endpoint": {"type": "str", "required": True},
            "allowed_ips": {"type": "list", "elements": "str", "required": True},
            "dns": {"type": "list", "elements": "str", "default": []},
            "mtu": {"type": "int", "default": 0},
            "keepalive": {"type": "int", "default": 25},
            "qr_code": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    check_params(module)
    params = module.params
    run = Run(module)
    peers = []
    for device in params["devices"]:
        name = f"{device['username']}/{device['device']}"
        stem = f"people/{device['username']}/vpn/{device['device']}"
        psk = run.secret(f"{stem}.psk", lambda: base64.b64encode(secrets.token_bytes(32)).decode())
        if params["key_mode"] == "generated":
            private_key = run.secret(f"{stem}.key", new_private_key)
            public_key = public_key_of(private_key)
            run.ensure(f"{stem}.pub", public_key + "\n")
        else:
            private_key = PRIVATE_KEY_PLACEHOLDER
            public_key = params["supplied_public_keys"][name]
            for suffix in (".key", ".pub"):
                if os.path.exists(os.path.join(run.base, stem + suffix)):
                    run.written.append(f"{stem}{suffix} (removed: keys are supplied)")
                    if not module.check_mode:
                        os.unlink(os.path.join(run.base, stem + suffix))
        text = profile(params, device, private_key, psk)
        conf_path = os.path.join(run.base, f"{stem}.conf")
        conf_changed = read(conf_path) != text.strip()
        run.ensure(f"{stem}.conf", text)
        png_path = os.path.join(run.base, f"{stem}.png")
        if params["qr_code"] and params["key_mode"] == "generated":
            if conf_changed or not os.path.exists(png_path):
                run.written.append(f"{stem}.png")
                if not module.check_mode:
                    atomic_write(png_path, qr_png(module, text))
        elif os.path.exists(png_path):
            run.written.append(f"{stem}.png (removed)")
            if not module.check_mode:
                os.unlink(png_path)
        peers.append({
            "name": name, "public_key": public_key, "preshared_key": psk,
            "address": device["address"],
        })

    revoked = revoke(module, run, params)
    log_changes(module, run, revoked)
    result = {
        "changed": bool(run.written or revoked), "peers": peers,
        "written": run.written, "revoked": revoked,
    }
    if module._diff:
        result["diff"] = {
            "before": "", "after": "".join(f"{item}\n" for item in run.written + revoked),
        }
    module.exit_json(**result)


def revoke(module, run, params):
    """Move the files of devices no longer listed to the revoked archive."""
    wanted = {(d["username"], d["device"]) for d in params["devices"]}
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    revoked = []
    for username in sorted(params["people"]):
        folder = os.path.join(run.base, "people", username, "vpn")
        if not os.path.isdir(folder):
            continue
        devices = {
            name[: -len(suffix)]
            for name in os.listdir(folder)
            for suffix in SUFFIXES
            if name.endswith(suffix)
        }
        for device in sorted(devices):
            if (username, device) in wanted:
                continue
            revoked.append(f"{username}/{device}")
            if module.check_mode:
                continue
            target = os.path.join(run.base, "revoked", "vpn", f"{username}-{device}-{stamp}")
            private_makedirs(target)
            for suffix in SUFFIXES:
                source = os.path.join(folder, device + suffix)
                if os.path.exists(source):
                    shutil.move(source, os.path.join(target, device + suffix))
    return revoked


def log_changes(module, run, revoked):
    if module.check_mode or not (run.written or revoked):
        return
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [f"{stamp} vpn wrote {item}\n" for item in run.written]
    lines += [f"{stamp} vpn revoked device {item}\n" for item in revoked]
    append_audit(run.base, lines)


if __name__ == "__main__":
    main()
