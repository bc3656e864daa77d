#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: when each certificate and signing key of a host ends, in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_cert_expiry
short_description: Read when every certificate and signing key of a host expires, in one call
description:
  - Reads the certificates of the folder O(directory) (every C(*.crt) but the full chains,
    which repeat a certificate and its chain) and of O(files), and the OpenPGP keys of
    O(openpgp_keys). Returns each one's subject, issuer, serial, end of validity and days
    left, and whether the internal CA issued it. It changes nothing.
  - A certificate found twice (the CA in C(ca.crt) and in a chain) is listed once, under the
    first file; a folder's certificates come before its C(*.chain.crt) files.
  - A certificate is internal when it is one of O(ca_certificates) or of the self-signed CA
    certificates of O(files) or of the folder's C(ca.crt), or when its signature verifies
    with one of them and its issuer is that CA's subject.
  - The run renews a certificate when O(renew) lists its file with C(runs=true), it is
    internal, and it ends within C(within_days) days. A certificate issued elsewhere
    (ACME) and an OpenPGP key are never renewed by a run.
  - Each certificate or key that the run does not renew and that ends in less than
    O(warn_days) days gives one warning line naming O(label), the file, the end date, the
    days left and what to run. The module fails, naming each, when one ends in less than
    O(fail_days) days (or has ended). A file that cannot be read gives a warning.
  - It also lists the keys, which do not expire, for the audit (those of O(key_files) and,
    with O(keys), the private keys of the folder (C(*.key)), the WireGuard keys of
    O(wireguard_directory) (with their public key) and the SSH host keys of
    O(ssh_directory) (with their fingerprint)). A private key's content is never returned
    or logged.
options:
  directory:
    description: The folder of the host's certificates (C(/etc/teletreball/pki)). Nothing
      is read when it does not exist.
    type: path
  files:
    description: More certificate files (the CA on the controller, its next or previous
      one). A file that does not exist is left out.
    type: list
    elements: path
    default: []
  openpgp_keys:
    description: Public OpenPGP keys (armoured) whose end is watched, read with C(gpg
      --show-keys) in a temporary home folder. A file that does not exist is left out.
    type: list
    elements: path
    default: []
  ca_certificates:
    description: The internal CA certificates (PEM), such as the controller's current
      and next CA.
    type: list
    elements: str
    default: []
  renew:
    description: The certificate files that this run's pki play renews when they end
      soon enough.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The certificate's file.
        type: path
        required: true
      within_days:
        description: The run renews it when it ends within these many days.
        type: int
        required: true
      runs:
        description: Whether the play that renews it runs on this host in this run.
        type: bool
        default: true
      advice:
        description: What to run when this run does not renew it (the end of the warning).
        type: str
        default: ""
  warn_days:
    description: Warn about each certificate or key that ends in less than these many
      days and that this run does not renew; C(0) warns about nothing.
    type: int
    default: 0
  fail_days:
    description: Fail when one ends in less than these many days and this run does not
      renew it; C(0) never fails.
    type: int
    default: 0
  label:
    description: The host's name in the warnings.
    type: str
    default: ""
  keys:
    description: Also list the keys (see the description).
    type: bool
    default: false
  key_files:
    description: More private key files to list, with or without O(keys) (the keys of the
      CA and of the signing key on the controller), by path, mode and date only; one that
      does not exist is left out.
    type: list
    elements: path
    default: []
  wireguard_directory:
    description: The WireGuard folder, whose C(*.key) files are listed with O(keys).
    type: path
    default: /etc/wireguard
  ssh_directory:
    description: The SSH folder, whose C(ssh_host_*_key.pub) files are listed with O(keys).
    type: path
    default: /etc/ssh
  now:
    description: The time to count from (ISO 8601, UTC when it has no zone); now when
      omitted. For tests.
    type: str
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads, so it runs the same in check mode.
  diff_mode:
    support: none
notes:
  - Never reports a change.
  - Needs the Python library cryptography (python3-cryptography, which the role C(pki)
    installs) when there is a certificate to read, and gpg for O(openpgp_keys).
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Watch the end of the host's certificates
  teletreball_cert_expiry:
    directory: /etc/teletreball/pki
    ca_certificates: ["{{ lookup('ansible.builtin.file', pki_ca_dir ~ '/ca.crt') }}"]
    renew:
      - path: /etc/teletreball/pki/conference.crt
        within_days: 30
        runs: true
        advice: run playbooks/site.yml --tags pki
    warn_days: 45
    fail_days: 7
    label: "{{ inventory_hostname }}"

- name: List the certificates and keys of the host for the audit
  teletreball_cert_expiry:
    directory: /etc/teletreball/pki
    keys: true
  register: _audit_credentials
"""

RETURN = r"""
certificates:
  description: Each certificate read, in the order of the files.
  returned: unless the module fails
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    kind:
      description: C(certificate), C(CA certificate) or C(chain) (a certificate of a
        C(*.chain.crt) file, or after the first of a file).
      type: str
    subject:
      description: The subject (RFC 4514).
      type: str
    issuer:
      description: The issuer (RFC 4514).
      type: str
    serial:
      description: The serial number, in hexadecimal.
      type: str
    not_before:
      description: Start of validity (ISO 8601, UTC).
      type: str
    not_after:
      description: End of validity (ISO 8601, UTC).
      type: str
    days_left:
      description: Whole days left (negative once it has ended).
      type: int
    internal:
      description: Whether the internal CA issued it (or it is the internal CA).
      type: bool
    renewed:
      description: Whether this run renews it.
      type: bool
    state:
      description: C(renewed), C(ok), C(warn) or C(fail).
      type: str
  sample:
    - {path: /etc/teletreball/pki/conference.crt, kind: certificate,
       subject: CN=chat.example.org, issuer: CN=teletreball internal CA, serial: 5f1a,
       not_before: "2026-12-01T00:00:00+00:00", not_after: "2027-12-01T00:00:00+00:00",
       days_left: 359, internal: true, renewed: false, state: ok}
openpgp_keys:
  description: Each OpenPGP key of O(openpgp_keys).
  returned: unless the module fails
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    fingerprint:
      description: The primary key's fingerprint.
      type: str
    uid:
      description: Its first user ID.
      type: str
    created:
      description: When it was made (ISO 8601, UTC).
      type: str
    not_after:
      description: When it expires (ISO 8601, UTC), null when it never does.
      type: str
    days_left:
      description: Whole days left, null when it never expires.
      type: int
    state:
      description: C(ok), C(warn) or C(fail).
      type: str
  sample:
    - {path: /srv/credentials/package-repo/signing-key.pub.asc,
       fingerprint: 0123456789ABCDEF0123456789ABCDEF01234567, uid: Council packages,
       created: "2026-01-01T00:00:00+00:00", not_after: "2031-01-01T00:00:00+00:00",
       days_left: 1485, state: ok}
keys:
  description: Each key of O(key_files) and, with O(keys), of the host's folders; a key
    does not expire.
  returned: unless the module fails
  type: list
  elements: dict
  contains:
    path:
      description: The private key's file.
      type: str
    kind:
      description: C(TLS private key), C(WireGuard private key), C(SSH host key) or
        C(private key).
      type: str
    algorithm:
      description: Its algorithm, when known (from its certificate or public key).
      type: str
    public:
      description: The WireGuard public key, or the SSH key's SHA256 fingerprint.
      type: str
    mode:
      description: The private key file's mode.
      type: str
    modified:
      description: When the file last changed (ISO 8601, UTC), that is when it was made
        or last rotated.
      type: str
  sample:
    - {path: /etc/ssh/ssh_host_ed25519_key, kind: SSH host key, algorithm: ssh-ed25519,
       public: "SHA256:3m1P1OcB0b4RjKkq6y8b9s5vI2fK0yq1m9rQ3Y0X5fQ", mode: "0600",
       modified: "2026-12-01T10:00:00+00:00"}
errors:
  description: Each file that could not be read, with why.
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/teletreball/pki/old.crt, error: "not a PEM certificate"}]
expiring:
  description: The warning and failure lines, one per certificate or key.
  returned: always
  type: list
  elements: str
  sample:
    - >-
      tt-conf: /etc/teletreball/pki/conference.crt (CN=chat.example.org, issued by the
      internal CA) expires on 2027-01-10 (34 days left) and this run does not renew it:
      run playbooks/site.yml --tags pki
"""

import base64
import datetime
import hashlib
import math
import os
import re
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.teletreball_hostfiles import NotRegularFile, read_regular
from ansible.module_utils.teletreball_pki import parse_now, signed_by, validity

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519
except ImportError:
    HAS_CRYPTOGRAPHY = False
else:
    HAS_CRYPTOGRAPHY = True

DAY = 86400
PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)
EXTERNAL_ADVICE = ("it was issued outside the internal CA: put its renewed certificate in "
                   "pki_external_certificates, then run playbooks/site.yml --tags pki")
UNLISTED_ADVICE = ("no run renews it (it is not in the host's pki_certificates): "
                   "list it there again, or remove the file")
OPENPGP_ADVICE = ("no run renews it: rotate the repository's signing key "
                  "(roles/package_repo/README.md, \"Rotating the key\")")


class Unreadable(Exception):
    """A file that exists but cannot be read as what it should be."""


def iso(moment):
    return moment.astimezone(datetime.UTC).isoformat()


def modified(info):
    return iso(datetime.datetime.fromtimestamp(info.st_mtime, datetime.UTC))


def read_file(path):
    """The bytes of the regular file at ``path``, None when there is none."""
    try:
        _info, data = read_regular(path)
    except NotRegularFile as exc:
        raise Unreadable("not a regular file") from exc
    except OSError as exc:
        raise Unreadable(f"cannot be read: {exc.strerror or exc}") from exc
    return data


def load_certificates(data):
    if not HAS_CRYPTOGRAPHY:
        raise Unreadable(missing_required_lib("cryptography"))
    # Block by block: cryptography before 39 (Debian 12's) reads one certificate a call.
    blocks = PEM_CERTIFICATE.findall(data)
    if not blocks:
        raise Unreadable("not a PEM certificate")
    try:
        return [x509.load_pem_x509_certificate(block) for block in blocks]
    except ValueError as exc:
        raise Unreadable("not a PEM certificate") from exc


def is_ca(certificate):
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def fingerprint(certificate):
    return certificate.fingerprint(hashes.SHA256())


def self_signed_ca(certificate):
    return (is_ca(certificate) and certificate.issuer == certificate.subject
            and signed_by(certificate, certificate.public_key()))


def issued_by_any(certificate, authorities):
    if fingerprint(certificate) in {fingerprint(ca) for ca in authorities}:
        return True
    return any(certificate.issuer == ca.subject and signed_by(certificate, ca.public_key())
               for ca in authorities)


def algorithm_of(public_key):
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"ECC {public_key.curve.name}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(public_key).__name__


def days_left(remaining):
    return math.floor(remaining.total_seconds() / DAY)


class Watch:
    """Everything read, the warnings and the failures."""

    def __init__(self, params, now):
        self.params = params
        self.now = now
        self.certificates, self.openpgp, self.keys, self.errors = [], [], [], []
        self.warnings, self.failures = [], []
        self.seen = set()
        self.renew = {os.path.normpath(item["path"]): item for item in params["renew"]}
        self.label = params["label"]

    # --- certificates -----------------------------------------------------------------

    def certificate_files(self):
        """(path, optional) of each certificate file, in order: O(files), then the folder's
        certificates, then its chains."""
        out = [(os.path.normpath(path), True) for path in self.params["files"]]
        folder = self.params["directory"]
        if folder and os.path.isdir(folder):
            try:
                listed = os.listdir(folder)
            except OSError as exc:
                self.errors.append({"path": folder, "error": f"cannot be read: {exc.strerror}"})
                listed = []
            names = sorted(name for name in listed
                           if name.endswith(".crt") and not name.endswith(".fullchain.crt"))
            out += [(os.path.join(folder, name), False) for name in names
                    if not name.endswith(".chain.crt")]
            out += [(os.path.join(folder, name), False) for name in names
                    if name.endswith(".chain.crt")]
        return out

    def read_certificates(self):
        loaded = []
        for path, optional in self.certificate_files():
            try:
                data = read_file(path)
                if data is None:
                    if not optional:
                        self.errors.append({"path": path, "error": "vanished while read"})
                    continue
                loaded.append((path, load_certificates(data)))
            except Unreadable as exc:
                self.errors.append({"path": path, "error": str(exc)})
        authorities = self.authorities(loaded) if loaded else []
        for path, found in loaded:
            chain_file = path.endswith(".chain.crt")
            for index, certificate in enumerate(found):
                print_ = fingerprint(certificate)
                if print_ in self.seen:
                    continue
                self.seen.add(print_)
                # ca.crt holds the other CA too while a rotation of the CA is under way.
                kind = ("chain" if chain_file
                        else "CA certificate" if is_ca(certificate)
                        else "chain" if index > 0 else "certificate")
                self.certificate(path, kind, certificate, issued_by_any(certificate, authorities))

    def authorities(self, loaded):
        """The internal CAs: O(ca_certificates), the self-signed CAs of O(files) and the
        folder's ca.crt."""
        out = []
        for index, text in enumerate(self.params["ca_certificates"]):
            try:
                out += load_certificates(text.encode("utf-8"))
            except Unreadable as exc:
                self.errors.append({"path": f"ca_certificates[{index}]", "error": str(exc)})
        folder_ca = os.path.join(self.params["directory"] or "", "ca.crt")
        optional_files = {os.path.normpath(path) for path in self.params["files"]}
        for path, found in loaded:
            if path in optional_files or (self.params["directory"] and path == folder_ca):
                out += [certificate for certificate in found if self_signed_ca(certificate)]
        return out

    def certificate(self, path, kind, certificate, internal):
        not_before, not_after = validity(certificate)
        remaining = not_after - self.now
        entry = self.renew.get(path)
        renewed = bool(entry and entry["runs"] and internal and kind != "chain"
                       and remaining <= datetime.timedelta(days=entry["within_days"]))
        item = {
            "path": path, "kind": kind,
            "subject": certificate.subject.rfc4514_string(),
            "issuer": certificate.issuer.rfc4514_string(),
            "serial": format(certificate.serial_number, "x"),
            "not_before": iso(not_before), "not_after": iso(not_after),
            "days_left": days_left(remaining), "internal": internal, "renewed": renewed,
        }
        if renewed:
            item["state"] = "renewed"
        else:
            issuer = ("the internal CA" if internal else item["issuer"] or "an unnamed issuer")
            what = f"{item['subject'] or 'no subject'}, issued by {issuer}"
            if kind == "CA certificate" and certificate.issuer == certificate.subject:
                what = f"{item['subject'] or 'no subject'}, a CA"
            item["state"] = self.judge(path, what, not_after, remaining,
                                       self.advice(entry, internal, kind, not_after))
        self.certificates.append(item)

    def advice(self, entry, internal, kind, not_after):
        if kind == "chain" or not internal:
            return EXTERNAL_ADVICE
        if entry is None:
            return UNLISTED_ADVICE
        text = entry["advice"] or "run playbooks/site.yml --tags pki"
        if entry["runs"]:
            start = (not_after - datetime.timedelta(days=entry["within_days"])).date()
            text = (f"this run reissues it only from {start.isoformat()} "
                    f"({entry['within_days']} days before its end); {text}")
        return text

    def judge(self, path, what, not_after, remaining, advice):
        """ok, warn or fail; the line of a warning or a failure."""
        params = self.params
        left = days_left(remaining)
        when = (f"expired on {not_after.date().isoformat()} ({-left} days ago)"
                if remaining.total_seconds() <= 0
                else f"expires on {not_after.date().isoformat()} ({left} days left)")
        prefix = f"{self.label}: " if self.label else ""
        line = f"{prefix}{path} ({what}) {when} and this run does not renew it: {advice}"
        if params["fail_days"] > 0 and remaining < datetime.timedelta(days=params["fail_days"]):
            self.failures.append(line)
            return "fail"
        if params["warn_days"] > 0 and remaining < datetime.timedelta(days=params["warn_days"]):
            self.warnings.append(line)
            return "warn"
        return "ok"

    # --- OpenPGP keys -----------------------------------------------------------------

    def read_openpgp(self, module):
        paths = [path for path in self.params["openpgp_keys"] if os.path.lexists(path)]
        if not paths:
            return
        gpg = module.get_bin_path("gpg")
        if gpg is None:
            for path in paths:
                self.errors.append({"path": path, "error": "gpg is not installed"})
            return
        home = tempfile.mkdtemp(prefix="tt-expiry-gnupg-")
        try:
            for path in paths:
                try:
                    read_file(path)
                except Unreadable as exc:
                    self.errors.append({"path": path, "error": str(exc)})
                    continue
                rc, out, err = module.run_command(
                    [gpg, "--homedir", home, "--batch", "--no-tty", "--with-colons",
                     "--fixed-list-mode", "--show-keys", path])
                keys = parse_colons(out) if rc == 0 else []
                if not keys:
                    self.errors.append({"path": path, "error": "not an OpenPGP key: "
                                        + (err.strip().splitlines() or ["gpg read no key"])[-1]})
                for key in keys:
                    self.openpgp_key(path, key)
        finally:
            shutil.rmtree(home, ignore_errors=True)

    def openpgp_key(self, path, key):
        item = {"path": path, "fingerprint": key["fingerprint"], "uid": key["uid"],
                "created": iso(key["created"]) if key["created"] else None,
                "not_after": None, "days_left": None, "state": "ok"}
        if key["expires"] is not None:
            remaining = key["expires"] - self.now
            item["not_after"] = iso(key["expires"])
            item["days_left"] = days_left(remaining)
            what = f"OpenPGP key {key['fingerprint']}" + (f", {key['uid']}" if key["uid"] else "")
            item["state"] = self.judge(path, what, key["expires"], remaining, OPENPGP_ADVICE)
        self.openpgp.append(item)

    # --- keys -------------------------------------------------------------------------

    def read_keys(self, scan):
        """O(key_files); with ``scan`` (O(keys)) also the keys of the host's folders."""
        for path in self.params["key_files"]:
            if os.path.lexists(path):
                item = self.key_entry(path, "private key")
                if item is not None:
                    self.keys.append(item)
        if not scan:
            return
        by_certificate = {item["path"]: item for item in self.certificates}
        folder = self.params["directory"]
        for path in self.listed(folder, lambda name: name.endswith(".key")):
            item = self.key_entry(path, "TLS private key")
            if item is None:
                continue
            certificate = path[: -len(".key")] + ".crt"
            item["certificate"] = certificate if certificate in by_certificate else None
            if certificate in by_certificate:
                item["algorithm"] = self.certificate_algorithm(certificate)
            self.keys.append(item)
        for path in self.listed(self.params["wireguard_directory"],
                                lambda name: name.endswith(".key")):
            item = self.key_entry(path, "WireGuard private key")
            if item is not None:
                item["algorithm"] = "Curve25519"
                item["public"] = self.wireguard_public(path)
                self.keys.append(item)
        for path in self.listed(self.params["ssh_directory"],
                                lambda name: name.startswith("ssh_host_")
                                and name.endswith("_key.pub")):
            self.ssh_key(path)

    @staticmethod
    def listed(folder, wanted):
        if not folder or not os.path.isdir(folder):
            return []
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        return [os.path.join(folder, name) for name in sorted(names) if wanted(name)]

    def key_entry(self, path, kind):
        """The listing of a key file (never its content), None when it is not a file."""
        try:
            info = os.lstat(path)
        except OSError as exc:
            self.errors.append({"path": path, "error": f"cannot be read: {exc.strerror}"})
            return None
        if not stat.S_ISREG(info.st_mode):
            self.errors.append({"path": path, "error": "not a regular file"})
            return None
        return {"path": path, "kind": kind, "algorithm": "", "public": "",
                "mode": f"{stat.S_IMODE(info.st_mode):04o}", "modified": modified(info)}

    def certificate_algorithm(self, certificate_path):
        try:
            data = read_file(certificate_path)
            return algorithm_of(load_certificates(data)[0].public_key())
        except (Unreadable, TypeError):
            return ""

    def wireguard_public(self, path):
        """The public key of a WireGuard private key file (its content is read, never kept)."""
        if not HAS_CRYPTOGRAPHY:
            return ""
        try:
            raw = base64.b64decode((read_file(path) or b"").strip(), validate=True)
            public = x25519.X25519PrivateKey.from_private_bytes(raw).public_key()
        except (Unreadable, ValueError) as exc:
            self.errors.append({"path": path, "error": "not a WireGuard key"
                                if not isinstance(exc, Unreadable) else str(exc)})
            return ""
        raw_public = public.public_bytes(serialization.Encoding.Raw,
                                         serialization.PublicFormat.Raw)
        return base64.b64encode(raw_public).decode("ascii")

    def ssh_key(self, public_path):
        private = public_path[: -len(".pub")]
        item = self.key_entry(private if os.path.lexists(private) else public_path,
                              "SSH host key")
        if item is None:
            return
        try:
            fields = (read_file(public_path) or b"").decode("ascii").split()
            blob = base64.b64decode(fields[1], validate=True)
        except (Unreadable, UnicodeDecodeError, IndexError, ValueError):
            self.errors.append({"path": public_path, "error": "not an SSH public key"})
            return
        item["algorithm"] = fields[0]
        digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
        item["public"] = f"SHA256:{digest}"
        self.keys.append(item)


def parse_colons(text):
    """The primary keys of ``gpg --with-colons --fixed-list-mode`` output."""
    keys, current = [], None
    for line in text.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            current = {"fingerprint": "", "uid": "", "created": epoch(fields, 5),
                       "expires": epoch(fields, 6)}
            keys.append(current)
        elif current is not None and fields[0] == "fpr" and not current["fingerprint"]:
            current["fingerprint"] = fields[9] if len(fields) > 9 else ""
        elif current is not None and fields[0] == "uid" and not current["uid"]:
            current["uid"] = fields[9].replace("\\x3a", ":") if len(fields) > 9 else ""
        elif fields[0] in ("sub", "ssb", "sec"):
            current = None
    return keys


def epoch(fields, index):
    if len(fields) <= index or not fields[index].strip().isdigit():
        return None
    return datetime.datetime.fromtimestamp(int(fields[index]), datetime.UTC)


def main():
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path"},
            "files": {"type": "list", "elements": "path", "default": []},
            "openpgp_keys": {"type": "list", "elements": "path", "default": []},
            "ca_certificates": {"type": "list", "elements": "str", "default": []},
            "renew": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "path", "required": True},
                "within_days": {"type": "int", "required": True},
                "runs": {"type": "bool", "default": True},
                "advice": {"type": "str", "default": ""},
            }},
            "warn_days": {"type": "int", "default": 0},
            "fail_days": {"type": "int", "default": 0},
            "label": {"type": "str", "default": ""},
            "keys": {"type": "bool", "default": False},
            "key_files": {"type": "list", "elements": "path", "default": []},
            "wireguard_directory": {"type": "path", "default": "/etc/wireguard"},
            "ssh_directory": {"type": "path", "default": "/etc/ssh"},
            "now": {"type": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    for name in ("warn_days", "fail_days"):
        if params[name] < 0:
            module.fail_json(msg=f"{name} must be 0 or more, not {params[name]}.")
    try:
        now = parse_now(params["now"])
    except ValueError:
        module.fail_json(msg=f"now: {params['now']} is not an ISO 8601 time.")
    watch = Watch(params, now)
    watch.read_certificates()
    watch.read_openpgp(module)
    watch.read_keys(params["keys"])
    result = {"changed": False, "certificates": watch.certificates,
              "openpgp_keys": watch.openpgp, "keys": watch.keys, "errors": watch.errors,
              "expiring": watch.failures + watch.warnings}
    if params["warn_days"] > 0 or params["fail_days"] > 0:
        prefix = f"{watch.label}: " if watch.label else ""
        for error in watch.errors:
            module.warn(f"{prefix}{error['path']} {error['error']}: its end is not watched.")
        for line in watch.warnings:
            module.warn(line + ".")
    if watch.failures:
        count = len(watch.failures)
        module.fail_json(
            msg=(f"{count} certificate(s) or key(s) end in less than {params['fail_days']} "
                 "days and this run does not renew them (pki_expiry_fail_days; "
                 "docs/operations.md, \"Expiry\"): " + " | ".join(watch.failures)),
            expiring=result["expiring"], errors=result["errors"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
