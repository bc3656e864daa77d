# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the derived staff directory into what one service needs.

The directory is the result of the module teletreball_directory
(hostvars['localhost']['teletreball_directory']).
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse

from ansible.errors import AnsibleFilterError


def _present(directory):
    if not isinstance(directory, dict) or "people" not in directory:
        raise AnsibleFilterError(
            "the staff directory is missing: run playbooks/preflight.yml first (site.yml does)"
        )
    return [p for p in directory["people"] if p.get("state") == "present"]


def vpn_devices(directory):
    """Every VPN device of every present person: [{username, device, address}]."""
    return [
        {"username": person["username"], "device": device["name"], "address": device["address"]}
        for person in _present(directory)
        for device in person.get("vpn_devices", [])
    ]


def vpn_access_rules(directory, services, networks):
    """One rule per granted service: the device addresses that may reach it and where.

    Returns [{service, sources: [addresses], destinations: [CIDRs], tcp: [..], udp: [..]}],
    in the order of ``services``; a service nobody may use has no rule.
    """
    rules = []
    for service, spec in (services or {}).items():
        sources = sorted(
            device["address"]
            for person in _present(directory)
            if service in person.get("services", [])
            for device in person.get("vpn_devices", [])
        )
        if not sources:
            continue
        try:
            destinations = [networks[name] for name in spec.get("networks", [])]
        except KeyError as exc:
            raise AnsibleFilterError(f"service {service}: unknown network {exc}") from exc
        rules.append({
            "service": service,
            "sources": sources,
            "destinations": destinations,
            "tcp": [str(port) for port in spec.get("tcp", []) or []],
            "udp": [str(port) for port in spec.get("udp", []) or []],
        })
    return rules


def totp_uri(secret_hex, account, issuer, digits=6, period=30):
    """The otpauth:// URI of a TOTP secret (RFC 6238, SHA-1), for authenticator apps.

    ``secret_hex`` is the secret as pam_oath reads it (hex); apps want it in
    base32 without padding. The label is "<issuer>:<account>".
    """
    try:
        raw = binascii.unhexlify(secret_hex)
    except (binascii.Error, TypeError) as exc:
        raise AnsibleFilterError("teletreball_totp_uri: the secret is not hexadecimal") from exc
    if len(raw) < 16:
        raise AnsibleFilterError("teletreball_totp_uri: the secret is shorter than 128 bits")
    if int(digits) not in (6, 8) or not 15 <= int(period) <= 120:
        raise AnsibleFilterError("teletreball_totp_uri: digits must be 6 or 8, period 15-120 s")
    label = urllib.parse.quote(f"{issuer}:{account}", safe=":@")
    query = urllib.parse.urlencode({
        "secret": base64.b32encode(raw).decode().rstrip("="),
        "issuer": issuer,
        "algorithm": "SHA1",
        "digits": int(digits),
        "period": int(period),
    }, quote_via=urllib.parse.quote)
    return f"otpauth://totp/{label}?{query}"


class FilterModule:
    """teletreball filters."""

    def filters(self):
        return {
            "teletreball_vpn_devices": vpn_devices,
            "teletreball_vpn_access_rules": vpn_access_rules,
            "teletreball_totp_uri": totp_uri,
        }
