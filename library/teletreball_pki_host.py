#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: the keys and certificates of a host checked in one run; a request
for each certificate that must be signed."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_pki_host
short_description: Check the keys and certificates of a host in one run; requests for those to sign
description:
  - For every entry of O(certificates), in one module run on the host, where the
    C(community.crypto) modules take several runs per certificate.
  - B(Key.) C(<directory>/<name>.key) is made on the host when it is missing, and the key
    never leaves the host (neither the arguments nor the result hold it). An existing key
    is kept as long as it is an unencrypted PEM key of the type and size (or curve) of
    O(certificates[].key); otherwise it is replaced by a new one, like
    C(community.crypto.openssl_privatekey) with its default C(regenerate=full_idempotence).
    To replace a good key, delete its file. Its mode, owner and group are corrected in place.
    A new key is written as a hidden candidate in the same folder, with its final mode, owner
    and group already set, then renamed over the file (PEM, PKCS#1 or SEC1, unencrypted).
  - B(Certificate.) C(<directory>/<name>.crt) needs signing when it is missing or unreadable,
    when the key is new, or when it differs from what
    C(community.crypto.x509_certificate_pipe) (provider C(ownca)) would issue today for the
    request of O(certificates[]) - public key, subject, subject alternative names, key usage,
    extended key usage, basic constraints (no other extension but the key identifiers),
    subject key identifier of its public key - when it does not verify against
    O(ca_certificate) (signature, issuer, authority key identifier), or when it is not
    valid O(renew_before_days) days after O(now).
  - For each certificate to sign, the result has a request (CSR, PEM) made with the key on the
    host, with exactly the subject and extensions listed above (the signing module copies them
    into the certificate). Nothing else is sent back but public data.
  - The module writes no certificate. It returns the installed certificate of each
    certificate that is kept, so that the caller installs the certificate, C(<name>.chain.crt)
    (the CA certificate) and C(<name>.fullchain.crt) (both) together, for instance with
    C(teletreball_files); RV(certificates[].stale_files) tells which of them differ now.
  - Everything is checked before anything is written (names, names of the subject, usages,
    key types, owners, groups, the CA certificate, paths that are not regular files), and all
    problems are reported together.
options:
  directory:
    description:
      - Folder of the keys and certificates. When it is missing it is made (with missing
        parents) with O(directory_mode), O(directory_owner) and O(directory_group); an
        existing folder is left as it is.
    type: path
    required: true
  directory_mode:
    description: Permissions of a folder made by the module, as a quoted string of four
      octal digits.
    type: str
    default: "0755"
  directory_owner:
    description: Owner of a folder made by the module.
    type: str
    default: root
  directory_group:
    description: Group of a folder made by the module.
    type: str
    default: root
  ca_certificate:
    description: The current CA certificate, PEM. The certificates must verify against it.
    type: str
    required: true
  renew_before_days:
    description: A certificate that is not valid this many days after O(now) is signed again
      (0 signs again the expired ones only).
    type: int
    required: true
  now:
    description:
      - The time the renewal window starts, ISO 8601 (C(2026-12-01T10:00:00Z)); without a time
        zone it is UTC. Default, the clock of the host. Pass the controller's clock to decide
        as a check run on the controller would.
    type: str
  certificate_mode:
    description: Mode expected of the certificate, chain and full chain files, for
      RV(certificates[].stale_files).
    type: str
    default: "0644"
  certificates:
    description: The certificates of the host.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Names the files C(<directory>/<name>.key), C(.crt), C(.chain.crt) and
          C(.fullchain.crt). Letters, digits, C(_), C(.) and C(-), not starting with C(.).
        type: str
        required: true
      common_name:
        description: The only name of the subject (C(CN)).
        type: str
        required: true
      subject_alt_names:
        description: Subject alternative names, in the order they appear in the certificate,
          each C(DNS:<name>) or C(IP:<address>).
        type: list
        elements: str
        required: true
      key_usage:
        description: Key usage (critical), such as C(digitalSignature) and C(keyEncipherment).
        type: list
        elements: str
        required: true
      extended_key_usage:
        description: Extended key usage (not critical), in order, such as C(serverAuth) and
          C(clientAuth).
        type: list
        elements: str
        default: [serverAuth]
      key:
        description: Type of the key.
        type: dict
        required: true
        suboptions:
          type:
            description: C(RSA) or C(ECC).
            type: str
            required: true
            choices: [RSA, ECC]
          size:
            description: Bits of an RSA key (at least 2048).
            type: int
          curve:
            description: Curve of an ECC key.
            type: str
            choices: [secp256r1, secp384r1, secp521r1]
      key_mode:
        description: Permissions of the key, as a quoted string of four octal digits.
        type: str
        default: "0600"
      owner:
        description: Owner of the key (and of the certificate files, for
          RV(certificates[].stale_files)).
        type: str
        default: root
      group:
        description: Group of the key (and of the certificate files).
        type: str
        default: root
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written. A key that would be made or replaced has no request yet, so
      RV(certificates[].csr) is null while RV(certificates[].needs_signing) is true.
  diff_mode:
    support: full
    details: Lists each key made, replaced or corrected, with its mode, owner and group,
      never its content.
notes:
  - Supports check mode and diff mode. In check mode nothing is written; a key that would be
    made or replaced has no request (it does not exist yet), so RV(certificates[].csr) is
    null although RV(certificates[].needs_signing) is true. A key whose mode, owner or group
    only would be corrected is used for the request. A missing owner or group is then a
    warning, since a task before this one may create it in a real run.
  - The diff lists each key made, replaced or corrected, with its mode, owner and group (never
    its content).
  - The basic constraints are C(CA:FALSE), critical. A certificate issued by
    C(community.crypto.x509_certificate_pipe) (provider C(ownca), its default key identifiers)
    for the request returned here is accepted as it is by the next run.
requirements:
  - The Python library C(cryptography) on the host (Debian package C(python3-cryptography)).
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Check the keys and certificates on the host
  teletreball_pki_host:
    directory: /etc/teletreball/pki
    ca_certificate: "{{ lookup('ansible.builtin.file', 'ca.crt') }}"
    renew_before_days: 30
    now: "{{ now(utc=true, fmt='%Y-%m-%dT%H:%M:%SZ') }}"
    certificates:
      - name: xmpp
        common_name: xmpp.example.org
        subject_alt_names: [DNS:xmpp.example.org, IP:10.20.1.12]
        key_usage: [digitalSignature, keyEncipherment]
        key: {type: RSA, size: 3072}
        key_mode: "0640"
        group: prosody
  register: pki_host

- name: Sign only the requests of the certificates that need it
  community.crypto.x509_certificate_pipe:
    provider: ownca
    csr_content: "{{ item.csr }}"
    ownca_path: ca.crt
    ownca_privatekey_path: ca.key
    force: true
  loop: "{{ pki_host.certificates | selectattr('csr', 'string') | list }}"
  delegate_to: localhost
"""

RETURN = r"""
certificates:
  description: One entry per O(certificates), in the same order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: O(certificates[].name).
      type: str
    key:
      description: C(kept), C(created), C(replaced) or C(corrected) (mode, owner or group);
        in check mode, what would be done.
      type: str
    key_problem:
      description: Why an existing key was replaced (or would be).
      type: str
      returned: when RV(certificates[].key) is C(replaced)
    needs_signing:
      description: Whether the certificate must be signed (again).
      type: bool
    reasons:
      description: Why it must be signed, such as C(no certificate), C(new key),
        C(different subject alternative names), C(not signed by the CA),
        C(inside the renewal window).
      type: list
      elements: str
    csr:
      description: The request to sign, PEM; null when nothing is to sign, or in check mode
        when the key does not exist yet.
      type: str
    certificate:
      description: The installed certificate, its file's content without surrounding blank
        space and with one final newline; null when it must be signed.
      type: str
    not_after:
      description: End of validity of the installed certificate (ISO 8601, UTC), null when
        there is none that can be read.
      type: str
    stale_files:
      description: The certificate, chain and full chain files that differ (content, mode,
        owner or group) from what they must be with the kept certificate and O(ca_certificate)
        (the certificate and full chain files of a certificate to sign always count).
      type: list
      elements: str
to_sign:
  description: Names of the certificates that must be signed.
  returned: always
  type: list
  elements: str
changed_keys:
  description: Names of the certificates whose key was made, replaced or corrected (or would be).
  returned: always
  type: list
  elements: str
directory_created:
  description: Whether O(directory) was made (or would be).
  returned: always
  type: bool
"""

import datetime
import ipaddress
import os
import re
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.teletreball_hostfiles import (
    group_name,
    parse_mode,
    resolve_ids,
    sync_folder,
    user_name,
)
from ansible.module_utils.teletreball_pki import (
    describe_key,
    describe_wanted,
    key_is_wanted,
    parse_now,
    public_der,
    signed_by,
    validity,
)

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
except ImportError:
    HAS_CRYPTOGRAPHY = False
else:
    HAS_CRYPTOGRAPHY = True

NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")
KEY_USAGES = {
    "digitalSignature": "digital_signature",
    "nonRepudiation": "content_commitment",
    "contentCommitment": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
    "encipherOnly": "encipher_only",
    "decipherOnly": "decipher_only",
}
EXTENDED_KEY_USAGES = {
    "serverAuth": "1.3.6.1.5.5.7.3.1",
    "clientAuth": "1.3.6.1.5.5.7.3.2",
    "codeSigning": "1.3.6.1.5.5.7.3.3",
    "emailProtection": "1.3.6.1.5.5.7.3.4",
    "timeStamping": "1.3.6.1.5.5.7.3.8",
    "OCSPSigning": "1.3.6.1.5.5.7.3.9",
}
CURVES = {"secp256r1": "SECP256R1", "secp384r1": "SECP384R1", "secp521r1": "SECP521R1"}
MIN_RSA_BITS = 2048


class Problems(Exception):
    pass


class PkiHostModule(AnsibleModule):
    """Logs the directory and the certificate names on the host, not the PEM texts."""

    def _log_invocation(self):
        names = " ".join(item["name"] for item in self.params.get("certificates") or [])
        log_args = {"directory": self.params.get("directory"), "certificates": names}
        self.log(f"Invoked with directory={log_args['directory']} certificates={names}",
                 log_args=log_args)


# --- accounts and attributes ------------------------------------------------------------


def attributes(info):
    return {"mode": f"{stat.S_IMODE(info.st_mode):04o}", "owner": user_name(info.st_uid),
            "group": group_name(info.st_gid)}


def attributes_differ(info, mode, uid, gid):
    return stat.S_IMODE(info.st_mode) != mode or info.st_uid != uid or info.st_gid != gid


# --- what a certificate must be -----------------------------------------------------------


def general_name(text):
    """``DNS:<name>`` or ``IP:<address>`` as a cryptography GeneralName (as
    community.crypto reads them), or ValueError."""
    if text.startswith("DNS:"):
        name = text[4:]
        if not name:
            raise ValueError("empty DNS name")
        if not name.isascii():
            name = ".".join(
                part if part in ("", "*") or part.isascii() else part.encode("idna").decode()
                for part in name.split(".")
            )
        return x509.DNSName(name)
    if text.startswith("IP:"):
        address = text[3:]
        if "/" in address:
            return x509.IPAddress(ipaddress.ip_network(address))
        return x509.IPAddress(ipaddress.ip_address(address))
    raise ValueError('must start with "DNS:" or "IP:"')


def wanted_extensions(item, where, problems):
    """The extensions of the request, in the order community.crypto.openssl_csr_pipe
    adds them: (value, critical) pairs."""
    names = []
    for text in item["subject_alt_names"]:
        try:
            names.append(general_name(text))
        except (ValueError, UnicodeError) as exc:
            problems.append(f"{where}: subject alternative name {text!r}: {exc}.")
    if not item["subject_alt_names"]:
        problems.append(f"{where}: subject_alt_names must not be empty.")
    unknown = [usage for usage in item["key_usage"] if usage not in KEY_USAGES]
    if unknown or not item["key_usage"]:
        problems.append(f"{where}: key_usage must be a non-empty list of "
                        f"{', '.join(KEY_USAGES)}; unknown: {unknown}.")
    unknown_extended = [usage for usage in item["extended_key_usage"]
                        if usage not in EXTENDED_KEY_USAGES]
    if unknown_extended or not item["extended_key_usage"]:
        problems.append(f"{where}: extended_key_usage must be a non-empty list of "
                        f"{', '.join(EXTENDED_KEY_USAGES)}; unknown: {unknown_extended}.")
    if problems:
        return None
    flags = dict.fromkeys(set(KEY_USAGES.values()), False)
    for usage in item["key_usage"]:
        flags[KEY_USAGES[usage]] = True
    try:
        key_usage = x509.KeyUsage(**flags)
    except ValueError as exc:
        problems.append(f"{where}: key_usage: {exc}.")
        return None
    return [
        (x509.SubjectAlternativeName(names), False),
        (key_usage, True),
        (x509.ExtendedKeyUsage([x509.ObjectIdentifier(EXTENDED_KEY_USAGES[usage])
                                for usage in item["extended_key_usage"]]), False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
    ]


def key_spec(key, where, problems):
    if key["type"] == "RSA":
        if key["size"] is None or key["size"] < MIN_RSA_BITS or key["curve"] is not None:
            problems.append(f"{where}: an RSA key needs a size of at least {MIN_RSA_BITS}"
                            " bits and no curve.")
        return key
    if key["curve"] is None or key["size"] is not None:
        problems.append(f"{where}: an ECC key needs a curve and no size.")
    return key


def new_key(key):
    if key["type"] == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=key["size"])
    return ec.generate_private_key(getattr(ec, CURVES[key["curve"]])())


def authority_key_identifier(ca):
    """What x509_certificate_pipe (ownca) writes as the authority key identifier."""
    try:
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


EXTENSION_NAMES = {
    "SubjectAlternativeName": "subject alternative names",
    "KeyUsage": "key usage",
    "ExtendedKeyUsage": "extended key usage",
    "BasicConstraints": "basic constraints",
}


def certificate_problems(certificate, private_key, item, ca, renewal_time, renew_days):
    """Why ``certificate`` is not the one to keep (empty when it is)."""
    reasons = []
    public_key = certificate.public_key()
    if public_der(public_key) != public_der(private_key.public_key()):
        reasons.append("different public key")
    if certificate.subject != item["subject"]:
        reasons.append("different subject")
    present = {}
    ski = None
    aki = None
    for extension in certificate.extensions:
        if isinstance(extension.value, x509.SubjectKeyIdentifier):
            ski = extension.value
        elif isinstance(extension.value, x509.AuthorityKeyIdentifier):
            aki = extension.value
        else:
            present[extension.oid] = extension
    for value, critical in item["extensions"]:
        found = present.pop(value.oid, None)
        if found is None or found.critical != critical or found.value != value:
            reasons.append(f"different {EXTENSION_NAMES[type(value).__name__]}")
    if present:
        reasons.append("other extensions")
    try:
        own_ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    except (ValueError, TypeError):
        own_ski = None
    if ski is None or own_ski is None or ski.digest != own_ski.digest:
        reasons.append("wrong subject key identifier")
    if not signed_by(certificate, ca.public_key()):
        reasons.append("not signed by the CA")
    if certificate.issuer != ca.subject:
        reasons.append("different issuer")
    if aki != authority_key_identifier(ca):
        reasons.append("wrong authority key identifier")
    not_before, not_after = validity(certificate)
    if not not_before <= renewal_time <= not_after:
        reasons.append("inside the renewal window" if not_after < renewal_time
                       else f"not valid yet in {renew_days} days")
    return reasons


def make_request(private_key, item):
    builder = x509.CertificateSigningRequestBuilder().subject_name(item["subject"])
    for value, critical in item["extensions"]:
        builder = builder.add_extension(value, critical=critical)
    request = builder.sign(private_key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- arguments ----------------------------------------------------------------------------


def regular_or_missing(path, problems):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        problems.append(f"cannot read {path}: {exc}.")
        return
    if not stat.S_ISREG(info.st_mode):
        problems.append(f"{path} exists and is not a regular file (a link, a folder...).")


def prepare(params, check_mode):
    """Checked arguments, or Problems listing every problem found."""
    problems, warnings = [], []
    directory = params["directory"]
    if not os.path.isabs(directory):
        problems.append(f"directory {directory} must be an absolute path.")
    directory = os.path.normpath(directory)
    if os.path.lexists(directory) and not os.path.isdir(directory):
        problems.append(f"directory {directory} exists and is not a folder.")
    folder = {"path": directory,
              "mode": parse_mode(params["directory_mode"], "directory_mode", problems)}
    folder["uid"], folder["gid"] = resolve_ids(
        params["directory_owner"], params["directory_group"], problems, warnings,
        check_mode, of=f" of the folder {directory}")
    certificate_mode = parse_mode(params["certificate_mode"], "certificate_mode", problems)
    ca = None
    try:
        ca = x509.load_pem_x509_certificate(params["ca_certificate"].encode("utf-8"))
    except (ValueError, UnicodeError) as exc:
        problems.append(f"ca_certificate is not a PEM certificate: {exc}.")
    if params["renew_before_days"] < 0:
        problems.append("renew_before_days must be 0 or more.")
    now = None
    try:
        now = parse_now(params["now"])
    except ValueError:
        problems.append(f"now must be an ISO 8601 time such as 2026-12-01T10:00:00Z, "
                        f"not {params['now']!r}.")
    items, seen = [], set()
    for item in params["certificates"]:
        name = item["name"]
        where = f"certificate {name!r}"
        if not NAME_RE.fullmatch(name):
            problems.append(f"{where}: the name must be letters, digits, _ . -, not starting"
                            " with a dot.")
        if name in seen:
            problems.append(f"{where} is listed twice.")
        seen.add(name)
        if not item["common_name"]:
            problems.append(f"{where}: common_name must not be empty.")
        subject = None
        try:
            subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME,
                                                    item["common_name"])])
        except ValueError as exc:
            problems.append(f"{where}: common_name: {exc}.")
        own = []
        extensions = wanted_extensions(item, where, own)
        problems.extend(own)
        key_spec(item["key"], where, problems)
        mode = parse_mode(item["key_mode"], f"{where}: key_mode", problems)
        uid, gid = resolve_ids(item["owner"], item["group"], problems, warnings, check_mode,
                               of=f" of {where}")
        paths = {suffix: os.path.join(directory, f"{name}{suffix}")
                 for suffix in (".key", ".crt", ".chain.crt", ".fullchain.crt")}
        for path in paths.values():
            regular_or_missing(path, problems)
        items.append(dict(item, subject=subject, extensions=extensions, mode_bits=mode,
                          uid=uid, gid=gid, paths=paths))
    if problems:
        raise Problems("\n- ".join([f"{len(problems)} problem(s):"] + problems))
    return {"folder": folder, "ca": ca, "now": now, "items": items,
            "certificate_mode": certificate_mode, "warnings": warnings}


# --- the run ------------------------------------------------------------------------------


def read_or_none(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


class Run:
    def __init__(self, module, plan):
        self.module = module
        self.check_mode = module.check_mode
        self.plan = plan
        self.directory_created = False
        self.changed_keys = []
        self.diff = []
        self.results = []
        ca_text = module.params["ca_certificate"].strip() + "\n"
        self.ca_text = ca_text.encode("utf-8")
        days = module.params["renew_before_days"]
        self.renew_days = days
        self.renewal_time = plan["now"] + datetime.timedelta(days=days)

    def result(self):
        result = {
            "changed": bool(self.directory_created or self.changed_keys),
            "certificates": self.results,
            "to_sign": [item["name"] for item in self.results if item["needs_signing"]],
            "changed_keys": self.changed_keys,
            "directory_created": self.directory_created,
        }
        if self.module._diff:
            result["diff"] = self.diff
        return result

    def fail(self, msg):
        if self.changed_keys:
            msg = msg.rstrip() + "\nKeys already changed in this call: " + ", ".join(
                self.changed_keys) + "."
        self.module.fail_json(msg=msg, **self.result())

    # --- folder and keys -------------------------------------------------------------

    def folder(self):
        folder = self.plan["folder"]
        path = folder["path"]
        if os.path.isdir(path):
            return
        self.directory_created = True
        self.diff.append({"before_header": path, "after_header": path,
                          "before": {"path": path, "state": "absent"},
                          "after": {"path": path, "state": "directory",
                                    "mode": self.module.params["directory_mode"],
                                    "owner": self.module.params["directory_owner"],
                                    "group": self.module.params["directory_group"]}})
        if self.check_mode:
            return
        missing = []
        while not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        try:
            for created in reversed(missing):
                os.mkdir(created, 0o700)
                os.chown(created, folder["uid"], folder["gid"])
                os.chmod(created, folder["mode"])
        except OSError as exc:
            self.fail(f"Cannot make the folder {folder['path']}: {exc}.")

    def key(self, item):
        """The usable private key (None in check mode when it would be made), what was
        done, and why an existing key was replaced."""
        path = item["paths"][".key"]
        try:
            data = read_or_none(path)
        except OSError as exc:
            self.fail(f"Cannot read the key {path}: {exc}.")
        private_key, problem = None, None
        if data is not None:
            try:
                private_key = serialization.load_pem_private_key(data, password=None)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                problem = "it is not an unencrypted PEM private key"
            else:
                if not key_is_wanted(private_key, item["key"]):
                    problem = (f"it is an {describe_key(private_key)} key, not "
                               f"{describe_wanted(item['key'])}")
                    private_key = None
        if data is not None and problem is None:
            return private_key, self.correct_key(item, path), None
        action = "created" if data is None else "replaced"
        self.changed_keys.append(item["name"])
        self.diff.append({
            "before_header": path, "after_header": path,
            "before": {"path": path, "state": "absent"} if data is None else
            {"path": path, "key": f"replaced: {problem}"},
            "after": {"path": path, "key": describe_wanted(item["key"]),
                      "mode": item["key_mode"], "owner": item["owner"], "group": item["group"]},
        })
        if self.check_mode:
            return None, action, problem
        private_key = new_key(item["key"])
        self.write_key(path, private_key, item)
        return private_key, action, problem

    def correct_key(self, item, path):
        info = os.stat(path)
        if not attributes_differ(info, item["mode_bits"], item["uid"], item["gid"]):
            return "kept"
        self.changed_keys.append(item["name"])
        header = f"{path} (mode, owner, group)"
        self.diff.append({"before_header": header, "after_header": header,
                          "before": attributes(info),
                          "after": {"mode": item["key_mode"], "owner": item["owner"],
                                    "group": item["group"]}})
        if not self.check_mode:
            try:
                os.chown(path, item["uid"], item["gid"])
                os.chmod(path, item["mode_bits"])
            except OSError as exc:
                self.fail(f"Cannot set the mode, owner and group of {path}: {exc}.")
        return "corrected"

    def write_key(self, path, private_key, item):
        data = private_key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption())
        folder, name = os.path.split(path)
        candidate = None
        try:
            fd, candidate = tempfile.mkstemp(prefix=f".{name}.", dir=folder)  # mode 0600
            with os.fdopen(fd, "wb") as handle:
                os.fchown(handle.fileno(), item["uid"], item["gid"])
                os.fchmod(handle.fileno(), item["mode_bits"])
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(candidate, path)
            sync_folder(folder)
        except OSError as exc:
            self.fail(f"Cannot write the key {path}: {exc}.")
        finally:
            if candidate is not None and os.path.lexists(candidate):
                os.unlink(candidate)

    # --- certificates ----------------------------------------------------------------

    def certificate(self, item):
        private_key, key_action, key_problem = self.key(item)
        path = item["paths"][".crt"]
        try:
            data = read_or_none(path)
        except OSError as exc:
            self.fail(f"Cannot read the certificate {path}: {exc}.")
        reasons, certificate, text, not_after = [], None, None, None
        if data is not None:
            try:
                text = data.decode("utf-8").strip() + "\n"
                certificate = x509.load_pem_x509_certificate(data)
                not_after = validity(certificate)[1].strftime("%Y-%m-%dT%H:%M:%SZ")
            except Exception:  # whatever cannot be read is a certificate to sign again
                certificate = None
        if key_action in ("created", "replaced"):
            reasons.append("new key")
        elif data is None:
            reasons.append("no certificate")
        elif certificate is None:
            reasons.append("unreadable certificate")
        else:
            try:
                reasons = certificate_problems(certificate, private_key, item,
                                               self.plan["ca"], self.renewal_time,
                                               self.renew_days)
            except Exception as exc:  # a malformed extension, an unknown algorithm...
                reasons = [f"unreadable certificate ({exc})"]
        needs_signing = bool(reasons)
        csr = None
        if needs_signing and private_key is not None:
            csr = make_request(private_key, item)
        result = {
            "name": item["name"],
            "key": key_action,
            "needs_signing": needs_signing,
            "reasons": reasons,
            "csr": csr,
            "certificate": None if needs_signing else text,
            "not_after": not_after,
            "stale_files": self.stale_files(item, None if needs_signing else text),
        }
        if key_problem:
            result["key_problem"] = key_problem
        self.results.append(result)

    def stale_files(self, item, text):
        """Certificate, chain and full chain files that the installation will change."""
        ca = self.ca_text
        wanted = {".chain.crt": ca}
        if text is not None:
            wanted[".crt"] = text.encode("utf-8")
            wanted[".fullchain.crt"] = wanted[".crt"] + ca
        stale = []
        for suffix in (".crt", ".chain.crt", ".fullchain.crt"):
            path = item["paths"][suffix]
            if suffix not in wanted:
                stale.append(path)
                continue
            try:
                info = os.stat(path)
                current = read_or_none(path)
            except OSError:
                stale.append(path)
                continue
            if current != wanted[suffix] or attributes_differ(
                    info, self.plan["certificate_mode"], item["uid"], item["gid"]):
                stale.append(path)
        return stale


def main():
    module = PkiHostModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "directory_mode": {"type": "str", "default": "0755"},
            "directory_owner": {"type": "str", "default": "root"},
            "directory_group": {"type": "str", "default": "root"},
            "ca_certificate": {"type": "str", "required": True},
            "renew_before_days": {"type": "int", "required": True},
            "now": {"type": "str"},
            "certificate_mode": {"type": "str", "default": "0644"},
            "certificates": {
                "type": "list", "elements": "dict", "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "common_name": {"type": "str", "required": True},
                    "subject_alt_names": {"type": "list", "elements": "str", "required": True},
                    "key_usage": {"type": "list", "elements": "str", "required": True},
                    "extended_key_usage": {"type": "list", "elements": "str",
                                           "default": ["serverAuth"]},
                    "key": {
                        "type": "dict", "required": True,
                        "options": {
                            "type": {"type": "str", "required": True, "choices": ["RSA", "ECC"]},
                            "size": {"type": "int"},
                            "curve": {"type": "str", "choices": list(CURVES)},
                        },
                    },
                    "key_mode": {"type": "str", "default": "0600"},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                },
            },
        },
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib(
            "cryptography", reason="(Debian package python3-cryptography)"))
    try:
        plan = prepare(module.params, module.check_mode)
    except Problems as exc:
        module.fail_json(msg=f"teletreball_pki_host: {exc}", changed=False, certificates=[],
                         to_sign=[], changed_keys=[], directory_created=False)
    for warning in plan["warnings"]:
        module.warn(warning)
    run = Run(module, plan)
    run.folder()
    for item in plan["items"]:
        run.certificate(item)
    module.exit_json(**run.result())


if __name__ == "__main__":
    main()
