#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: whether the internal CA on the controller is complete and needs nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_ca_check
short_description: Tell whether the internal CA on the controller is complete, in one call
description:
  - Reads the files of the internal CA (its folder, the passphrase, the encrypted key,
    the request and the self-signed certificate) and says whether each is there and as
    the role C(pki) would make it. It changes nothing.
  - The role runs its steps that make, complete or renew the CA (with
    C(community.crypto)) only when RV(ready) is false, so that a run where the CA needs
    nothing costs one module run on the controller instead of five.
  - The CA is ready when every one of these holds, and RV(reasons) names each that does not.
  - The folder is a folder of mode C(0700); the four files are regular files of mode C(0600).
  - The key is PKCS#8, encrypted, opens with the passphrase, and is of the wanted type
    and size or curve (O(key)).
  - The request and the certificate carry the key's public key and the common name
    O(common_name); the request asks for a CA (basic constraints C(CA:TRUE),
    C(pathlen:0) and key usage C(keyCertSign), C(cRLSign), both critical).
  - The certificate is self-signed (issuer = subject, the signature verifies with the
    key), and is valid now and still O(renew_days_before) days from now.
  - It also tells where a rotation of the CA stands (playbooks/rotate_ca.yml), from the
    folders beside the active CA in O(directory) - C(next/) (a new CA made by the step
    C(prepare), trusted but not signing yet) or C(previous/) (the CA that signed before
    the step C(switch), still trusted until the step C(finish)) - and returns the
    certificate of that other CA, which the hosts trust beside the active one.
options:
  directory:
    description: The CA's folder on the controller.
    type: path
    required: true
  key_path:
    description: The CA's encrypted private key (PEM, PKCS#8).
    type: path
    required: true
  passphrase_path:
    description: The file holding the passphrase of the key (one line, mode 0600), outside
      the CA's folder (C(pki_ca_passphrase_file)). One of O(passphrase_path) and
      O(passphrase) is needed.
    type: path
  passphrase:
    description: The passphrase of the key itself (C(pki_ca_passphrase), a vaulted variable
      or a secret of AWX/Semaphore). Never returned or logged.
    type: str
  csr_path:
    description: The request of the CA certificate (PEM).
    type: path
    required: true
  certificate_path:
    description: The self-signed CA certificate (PEM).
    type: path
    required: true
  common_name:
    description: The CA's common name.
    type: str
    required: true
  key:
    description: The wanted key.
    type: dict
    required: true
    suboptions:
      type:
        description: The key type.
        type: str
        choices: [RSA, ECC]
        required: true
      size:
        description: Bits of an RSA key.
        type: int
      curve:
        description: Curve of an ECC key, such as C(secp384r1).
        type: str
  renew_days_before:
    description: Days before the certificate's end when it is renewed.
    type: int
    required: true
  now:
    description: The time to check at (ISO 8601, UTC when it has no zone); now when omitted.
      For tests.
    type: str
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: It changes nothing, so it runs the same in check mode.
  diff_mode:
    support: none
notes:
  - Supports check mode (it changes nothing, so it runs the same) and never reports a change.
  - Needs the Python library cryptography on the controller (C(community.crypto) does too).
  - The passphrase is read, never returned or logged.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Check the CA on the controller
  teletreball_ca_check:
    directory: "{{ pki_ca_dir }}"
    key_path: "{{ pki_ca_dir }}/ca.key"
    passphrase_path: "{{ pki_ca_passphrase_file }}"
    csr_path: "{{ pki_ca_dir }}/ca.csr"
    certificate_path: "{{ pki_ca_dir }}/ca.crt"
    common_name: teletreball internal CA
    key: {type: ECC, curve: secp384r1}
    renew_days_before: 730
  delegate_to: localhost
  run_once: true
  register: _pki_ca_check
"""

RETURN = r"""
ready:
  description: Whether the CA is complete and nothing of it is due.
  returned: always
  type: bool
  sample: true
reasons:
  description: Why the CA is not ready, one text each (empty when it is).
  returned: always
  type: list
  elements: str
  sample: ["ca.crt: inside the renewal window (ends 2027-01-01T00:00:00+00:00)"]
rotation:
  description: Where a rotation of the CA stands. C(none), C(prepared) (a new CA in
    C(next/), trusted, not signing yet), C(switched) (the new CA signs, the old one is in
    C(previous/), still trusted) or C(interrupted) (a step stopped half-way; re-run it).
  returned: always
  type: str
  sample: prepared
rotation_problem:
  description: What is wrong with the rotation's folders, and the step to run again
    (empty when nothing is).
  returned: always
  type: str
  sample: ""
rotation_certificate:
  description: The certificate (PEM) of the other CA of the rotation, C(next/ca.crt) or
    C(previous/ca.crt), that hosts trust beside the active one; empty when there is none.
  returned: always
  type: str
"""

import datetime
import os
import stat

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.teletreball_hostfiles import NotRegularFile, read_regular
from ansible.module_utils.teletreball_pki import (
    HAS_CRYPTOGRAPHY,
    describe_key,
    describe_wanted,
    key_is_wanted,
    parse_now,
    public_der,
    signed_by,
    validity,
)

if HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

ENCRYPTED_PKCS8 = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
# The folders of a rotation beside the active CA (playbooks/rotate_ca.yml), and the
# names a step uses while it moves them (any of these left means it was interrupted).
NEXT, PREVIOUS = "next", "previous"
TRANSIENT = (".previous-partial", ".next-removed")


def read_file(path, mode, reasons):
    """The bytes of a regular file of that mode, or None (with the reason)."""
    name = os.path.basename(path)
    try:
        info, data = read_regular(path)
    except NotRegularFile:
        reasons.append(f"{name}: not a regular file")
        return None
    except OSError as exc:
        reasons.append(f"{name}: cannot be read ({exc.strerror})")
        return None
    if info is None:
        reasons.append(f"{name}: missing")
    elif stat.S_IMODE(info.st_mode) != mode:
        reasons.append(f"{name}: mode {stat.S_IMODE(info.st_mode):04o}, not {mode:04o}")
    return data


def common_names(name):
    return [attribute.value for attribute in name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]


def load_key(data, passphrase, wanted, reasons):
    if not data.lstrip().startswith(ENCRYPTED_PKCS8):
        reasons.append("ca.key: not an encrypted PKCS#8 key")
        return None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError):
        reasons.append("ca.key: does not open with the passphrase")
        return None
    if not key_is_wanted(key, wanted):
        reasons.append(f"ca.key: {describe_key(key)}, not {describe_wanted(wanted)}")
    return key


def csr_problems(data, key, common_name):
    try:
        request = x509.load_pem_x509_csr(data)
    except ValueError:
        return ["ca.csr: not a PEM request"]
    reasons = []
    if key is not None and public_der(request.public_key()) != public_der(key.public_key()):
        reasons.append("ca.csr: another public key than ca.key's")
    if common_names(request.subject) != [common_name]:
        reasons.append("ca.csr: another common name")
    try:
        constraints = request.extensions.get_extension_for_class(x509.BasicConstraints)
        usage = request.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return [*reasons, "ca.csr: no basic constraints or key usage"]
    if not (constraints.critical and constraints.value.ca and constraints.value.path_length == 0):
        reasons.append("ca.csr: basic constraints are not critical CA:TRUE, pathlen:0")
    if not (usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
            and not usage.value.digital_signature):
        reasons.append("ca.csr: key usage is not critical keyCertSign, cRLSign")
    return reasons


def certificate_problems(data, key, common_name, now, renew_days):
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        return ["ca.crt: not a PEM certificate"]
    reasons = []
    if key is not None and public_der(certificate.public_key()) != public_der(key.public_key()):
        reasons.append("ca.crt: another public key than ca.key's")
    if common_names(certificate.subject) != [common_name]:
        reasons.append("ca.crt: another common name")
    if certificate.issuer != certificate.subject or not signed_by(certificate,
                                                                  certificate.public_key()):
        reasons.append("ca.crt: not self-signed")
    not_before, not_after = validity(certificate)
    if now < not_before:
        reasons.append(f"ca.crt: not valid yet (starts {not_before.isoformat()})")
    elif now + datetime.timedelta(days=renew_days) > not_after:
        reasons.append(f"ca.crt: inside the renewal window (ends {not_after.isoformat()})")
    return reasons


def now_of(module):
    try:
        return parse_now(module.params["now"])
    except ValueError:
        module.fail_json(msg=f"now: {module.params['now']} is not an ISO 8601 time.")
    return None  # not reached


def check(params, now):
    reasons = []
    directory = params["directory"]
    try:
        info = os.stat(directory)
    except OSError:
        return [f"{os.path.basename(directory)}: missing"]
    if not stat.S_ISDIR(info.st_mode):
        return [f"{directory}: not a folder"]
    if stat.S_IMODE(info.st_mode) != 0o700:
        reasons.append(f"{os.path.basename(directory)}: mode {stat.S_IMODE(info.st_mode):04o}, "
                       "not 0700")
    if params["passphrase"] is not None:
        passphrase, label = params["passphrase"].encode(), "pki_ca_passphrase"
    else:
        passphrase = read_file(params["passphrase_path"], 0o600, reasons)
        label = os.path.basename(params["passphrase_path"])
    key_data = read_file(params["key_path"], 0o600, reasons)
    csr_data = read_file(params["csr_path"], 0o600, reasons)
    cert_data = read_file(params["certificate_path"], 0o600, reasons)
    key = None
    if passphrase is not None and not passphrase.strip():
        reasons.append(f"{label}: empty")
    elif passphrase is not None and key_data is not None:
        key = load_key(key_data, passphrase.strip(), params["key"], reasons)
    if csr_data is not None:
        reasons += csr_problems(csr_data, key, params["common_name"])
    if cert_data is not None:
        reasons += certificate_problems(cert_data, key, params["common_name"], now,
                                        params["renew_days_before"])
    return reasons


def rotation_state(directory):
    """(state, problem, PEM of the other CA) of a rotation of the CA in ``directory``."""
    here = {name: os.path.isdir(os.path.join(directory, name))
            for name in (NEXT, PREVIOUS, *TRANSIENT)}
    if any(here[name] for name in TRANSIENT) or (here[NEXT] and here[PREVIOUS]):
        return ("interrupted", "a step of the CA's rotation stopped half-way (next/ and "
                "previous/ both there, or a transient folder is left): run "
                "playbooks/rotate_ca.yml -e step=switch again, then the normal run.", "")
    if not (here[NEXT] or here[PREVIOUS]):
        return "none", "", ""
    name, state, step = ((NEXT, "prepared", "prepare") if here[NEXT]
                         else (PREVIOUS, "switched", "switch"))
    path = os.path.join(directory, name, "ca.crt")
    try:
        info, data = read_regular(path)
    except (NotRegularFile, OSError):
        info = data = None
    pem = ""
    if info is not None and data:
        try:
            x509.load_pem_x509_certificate(data)
            pem = data.decode("ascii").strip() + "\n"
        except (ValueError, UnicodeDecodeError):
            pem = ""
    if not pem:
        return (state, f"{name}/ca.crt is missing or not a PEM certificate: run "
                f"playbooks/rotate_ca.yml -e step={step} again.", "")
    return state, "", pem


def main():
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "key_path": {"type": "path", "required": True},
            "passphrase_path": {"type": "path", "no_log": False},
            "passphrase": {"type": "str", "no_log": True},
            "csr_path": {"type": "path", "required": True},
            "certificate_path": {"type": "path", "required": True},
            "common_name": {"type": "str", "required": True},
            "key": {"type": "dict", "required": True, "options": {
                "type": {"type": "str", "choices": ["RSA", "ECC"], "required": True},
                "size": {"type": "int"},
                "curve": {"type": "str"},
            }},
            "renew_days_before": {"type": "int", "required": True},
            "now": {"type": "str"},
        },
        required_one_of=[("passphrase_path", "passphrase")],
        mutually_exclusive=[("passphrase_path", "passphrase")],
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    reasons = check(module.params, now_of(module))
    state, problem, other = ("none", "", "")
    if os.path.isdir(module.params["directory"]):
        state, problem, other = rotation_state(module.params["directory"])
    module.exit_json(changed=False, ready=not reasons, reasons=reasons, rotation=state,
                     rotation_problem=problem, rotation_certificate=other)


if __name__ == "__main__":
    main()
