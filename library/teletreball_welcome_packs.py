#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: keep one welcome pack folder per person; archive offboarded people."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_welcome_packs
short_description: Write per-person welcome pack files and archive those of offboarded people
description:
  - Each person has a folder C(<directory>/people/<username>/) that the service
    roles fill with what the person needs (README, account data, VPN profiles, ...).
  - Writes the files given in O(packs) when their content differs (atomic writes,
    mode 0600, folders 0700). Files of the folder that are not listed are left alone,
    so that several roles can each own their files. O(owner) names the role writing.
  - Moves the folder of each username in O(archive) to
    C(<directory>/archive/<username>-<UTC time>/) and appends a line to
    C(<directory>/audit.log), so an offboarded person's data is kept, not deleted.
  - With O(identities), each folder records whose it is (the file C(.identity),
    mode 0600). A folder whose recorded identity differs from the given one, a
    username now given to another person, is archived first, so that the new
    person gets a new folder, with new secrets and nothing of her predecessor's.
  - One task handles every person. Runs on the controller.
options:
  directory:
    description: The credentials directory of the inventory.
    type: path
    required: true
  packs:
    description: Username to a dictionary of file name to file content.
    type: dict
    default: {}
  qr_codes:
    description:
      - Username to a dictionary of C(.png) file name to the text the QR code holds
        (drawn with the Python library segno, mode 0600). A code is drawn again only
        when its text changes (the same text always gives the same bytes).
    type: dict
    default: {}
  handover:
    description:
      - Username to what the person's handover needs; run it after the service
        roles wrote their parts of the pack. Writes C(vpn.md) (with VPN devices),
        C(council-ca.crt) and C(council-ca.md) (with a service over the council's
        TLS, read from O(handover_settings.ca_certificate_file)) and the folder
        C(handover/) that IT gives the person as it is. That folder holds the
        printable page C(welcome-<ca|es|en>.html) and C(.pdf) (with the QR codes
        of the VPN profiles read from C(vpn/<device>.conf) and of the second
        factor read from C(desktop-totp.txt)), C(vpn.md), C(council-ca.crt),
        C(council-ca.md), the profiles C(vpn/<device>.conf) and C(.png),
        C(desktop-totp.png) and the guides C(desktop.md), C(phone.md),
        C(chat.md). Never a password file, a softphone file (they hold the SIP
        password), a raw key or C(account.json); any other file found there is
        removed.
      - Each value has C(name), C(department), C(services) (list), C(extension),
        C(chat_account), C(desktop) (the remote desktop's address, or null) and
        C(devices) (list of C(name) and C(address)).
      - A page is drawn again only when what it says changed; the same input
        gives the same bytes (fixed PDF dates and ids).
    type: dict
    default: {}
  handover_settings:
    description: Settings of the handover pages.
    type: dict
    default: {}
    suboptions:
      council_name:
        description: The council's name, on top of each page.
        type: str
        default: Ajuntament
      helpdesk:
        description: Whom to call when something fails (free text); a generic sentence when empty.
        type: str
        default: ''
      vpn_gateway_address:
        description:
          - The gateway's address in the VPN, which answers ping through the tunnel.
          - The check of C(vpn.md).
        type: str
      ca_certificate_file:
        description:
        description:
          - The council CA's certificate (PEM) on the controller.
          - Without it, no CA file is written.
          - Without it, no CA file is written.
        type: path
  identities:
    description:
      - Username to the digest of the person's identity key (the directory's
        C(identity)). The folder of a username whose C(.identity) holds another
        digest is archived before anything is written; each folder listed gets
        C(.identity) (a folder made before without one is taken as the person's).
    type: dict
    default: {}
  archive:
    description: Usernames whose folder must be archived (offboarded people).
    type: list
    elements: str
    default: []
  keep:
    description:
      - When given, the usernames whose folders stay; the folder of any other
        username under C(people/) is archived too (a person deleted from the
        staff list instead of being set absent).
    type: list
    elements: str
  owner:
    description: Who writes these files, for the audit log (usually the role name).
    type: str
    default: teletreball
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Names the files written and the folders archived, never their content.
requirements:
  - segno (QR codes), reportlab (the handover's PDF pages), on the controller
notes:
  - The content may hold secrets; use C(no_log) on the task.
  - The PDF pages use DejaVu Sans (Debian's C(fonts-dejavu-core)) when installed, so
    that names in any Latin, Greek or Cyrillic script print; otherwise reportlab's
    Vera fonts (Latin-1 only; other characters print as C(?), with a warning).
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Write the welcome packs
  teletreball_welcome_packs:
    directory: "{{ teletreball_credentials_dir }}"
    packs: "{{ lookup('ansible.builtin.template', 'welcome_packs.json.j2') }}"
    archive: "{{ teletreball_directory.absent }}"
  no_log: true

- name: Add the second-factor QR code of a person to their pack
  teletreball_welcome_packs:
    directory: "{{ teletreball_credentials_dir }}"
    qr_codes:
      anna: {desktop-totp.png: "otpauth://totp/Ajuntament:anna?secret=...&issuer=Ajuntament"}
    owner: vdi
  no_log: true
"""

RETURN = r"""
written:
  description: Files written, as C(username/file).
  returned: success
  type: list
  elements: str
archived:
  description: Usernames whose folder was archived by this run (offboarded, deleted
    from the directory, or given to another person).
  returned: success
  type: list
  elements: str
"""

import datetime
import fcntl
import hashlib
import json
import os
import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.teletreball_directory import DEVICE_RE, USERNAME_RE
from ansible.module_utils.teletreball_files import (
    append_audit,
    atomic_write,
    private_makedirs,
    qr_code,
    qr_png,
)
from ansible.module_utils.teletreball_handover import (
    LANGUAGES,
    RENDER_VERSION,
    REPORTLAB_IMPORT_ERROR,
    ca_fingerprints,
    ca_markdown,
    fit_codes,
    fonts,
    page_html,
    page_model,
    page_pdf,
    uses_tls,
    vpn_markdown,
)

FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
IDENTITY_RE = re.compile(r"^[0-9a-f]{16,64}$")
# The profile of a device whose key is made on the device (vpn_client_keys: supplied)
# has this placeholder instead of a private key: no QR code for it.
PRIVATE_KEY_PLACEHOLDER = "<the private key made on this device>"
# The service guides copied into the handover (no secret in them).
GUIDES = ("desktop.md", "phone.md", "chat.md")
PERSON_KEYS = {"name", "department", "services", "extension", "chat_account", "desktop",
               "devices"}


def read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def read_memo(path):
    try:
        with open(path, encoding="utf-8") as handle:
            memo = json.load(handle)
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def remember(path, entries):
    """Add this run's QR code texts to the memo. Several roles write packs at the same
    time (site.yml runs the service hosts side by side): the memo is read again and
    rewritten under a lock, so no run loses another's entries."""
    lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        memo = read_memo(path)
        merged = dict(memo, **entries)
        if merged != memo:
            atomic_write(path, json.dumps(merged, indent=1, sort_keys=True) + "\n")
    finally:
        os.close(lock)


def check_person(module, username, person):
    """The handover data of one person, checked (module input, not trusted)."""
    where = f"handover.{username}"
    if not isinstance(person, dict):
        module.fail_json(msg=f"{where} must be a dictionary.")
    unknown = sorted(set(person) - PERSON_KEYS)
    if unknown:
        module.fail_json(msg=f"{where}: unknown keys {', '.join(unknown)}.")
    if not isinstance(person.get("name"), str) or not person["name"].strip():
        module.fail_json(msg=f"{where}.name must be a non-empty text.")
    for key in ("department", "extension", "chat_account", "desktop"):
        if person.get(key) is not None and not isinstance(person[key], (str, int)):
            module.fail_json(msg=f"{where}.{key} must be a text.")
    services = person.get("services") or []
    if not isinstance(services, list) or not all(isinstance(x, str) for x in services):
        module.fail_json(msg=f"{where}.services must be a list of texts.")
    devices = person.get("devices") or []
    if not isinstance(devices, list):
        module.fail_json(msg=f"{where}.devices must be a list.")
    for device in devices:
        if (not isinstance(device, dict) or not isinstance(device.get("name"), str)
                or not DEVICE_RE.fullmatch(device["name"])
                or not isinstance(device.get("address"), str)):
            module.fail_json(msg=f"{where}.devices: each needs a valid name and an address.")
    return {
        "username": username, "name": person["name"],
        "department": str(person.get("department") or ""), "services": services,
        "extension": str(person["extension"]) if person.get("extension") else None,
        "chat_account": person.get("chat_account") or None,
        "desktop": str(person["desktop"]) if person.get("desktop") else None,
        "devices": [{"name": d["name"], "address": d["address"]} for d in devices],
    }


def read_ca(module, path):
    """(PEM text, SHA-256, SHA-1) of the CA certificate file, or None when absent."""
    if not path:
        return None
    try:
        with open(path, encoding="ascii") as handle:
            pem = handle.read().rstrip() + "\n"
    except FileNotFoundError:
        module.warn(f"No CA certificate at {path} yet (the role pki makes it): the "
                    "handover has no council-ca.crt until a run after the CA exists.")
        return None
    except (OSError, UnicodeDecodeError) as error:
        module.fail_json(msg=f"cannot read the CA certificate {path}: {error}")
    fingerprints = ca_fingerprints(pem)
    if fingerprints is None:
        module.fail_json(msg=f"{path} is not a PEM certificate.")
    return (pem, *fingerprints)


class Handover:
    """The handover of every person given: the pack's VPN and CA guides and the
    folder handover/ (pages, guides, profiles), drawn only when their input changed."""

    def __init__(self, module, people, ensure, remove, memo, new_memo):
        self.module, self.people = module, people
        self.ensure, self.remove = ensure, remove
        self.memo, self.new_memo = memo, new_memo
        self.settings = dict(module.params["handover_settings"] or {})
        self.settings.setdefault("council_name", "Ajuntament")
        self.settings["helpdesk"] = self.settings.get("helpdesk") or ""
        self.ca = read_ca(module, self.settings.get("ca_certificate_file"))
        self.missing = set()
        self.qr_cache = {}

    def clear(self):
        """Forget the previous person's QR codes (each person's are her own)."""
        self.qr_cache, self.svg_cache, self.pdf_cache = {}, {}, {}

    def make_qr(self, text):
        if text not in self.qr_cache:
            self.qr_cache[text] = qr_code(self.module, text)
        return self.qr_cache[text]

    def own(self, username, name):
        return read_bytes(os.path.join(self.people, username, name))

    def write(self, username, person):
        folder = os.path.join(self.people, username)
        self.clear()
        wanted, codes = {}, []
        for device in person["devices"]:
            conf = self.own(username, f"vpn/{device['name']}.conf")
            png = self.own(username, f"vpn/{device['name']}.png")
            if conf is not None:
                wanted[f"vpn/{device['name']}.conf"] = conf
                text = conf.decode("utf-8")
                if PRIVATE_KEY_PLACEHOLDER not in text:
                    codes.append(("vpn", device["name"], text))
            if png is not None:
                wanted[f"vpn/{device['name']}.png"] = png
            device["qr"] = png is not None
        totp = self.own(username, "desktop-totp.txt")
        if totp is not None and person["desktop"] and totp.strip():
            codes.append(("totp", None, totp.decode("utf-8").strip()))
            totp_png = self.own(username, "desktop-totp.png")
            if totp_png is not None:
                wanted["desktop-totp.png"] = totp_png
        own_files = {}
        if person["devices"]:
            own_files["vpn.md"] = vpn_markdown(
                person, self.settings["helpdesk"], self.settings.get("vpn_gateway_address") or "",
            ).encode()
        if uses_tls(person) and self.ca:
            pem, sha256, _ = self.ca
            own_files["council-ca.crt"] = pem.encode("ascii")
            own_files["council-ca.md"] = ca_markdown(*self.ca[1:]).encode()
        for name, content in own_files.items():
            self.ensure(f"{username}/{name}", content)
        wanted.update(own_files)
        # A guide this handover wrote before, for a device or a service now gone.
        stale = {"vpn.md"} if not person["devices"] else set()
        stale |= {"council-ca.crt", "council-ca.md"} if not uses_tls(person) else set()
        for name in sorted(stale):
            if os.path.isfile(os.path.join(folder, name)):
                self.remove(f"{username}/{name}")
        for name in GUIDES:
            content = self.own(username, name)
            if content is not None:
                wanted[name] = content
        fingerprint = self.ca[1] if (self.ca and uses_tls(person)) else None
        keep = set()
        for lang in LANGUAGES:
            model = page_model(person, self.settings, lang, codes, fingerprint)
            stem = f"welcome-{lang}"
            key = f"{username}/handover/{stem}"
            digest = hashlib.sha256(json.dumps(
                [RENDER_VERSION, fonts().digest, model], sort_keys=True,
            ).encode("utf-8")).hexdigest()
            self.new_memo[key] = digest
            paths = [os.path.join(folder, "handover", f"{stem}.{ext}") for ext in ("html", "pdf")]
            if self.memo.get(key) == digest and all(os.path.isfile(p) for p in paths):
                keep |= {f"{stem}.html", f"{stem}.pdf"}
                continue
            # As many QR codes as the page holds (the same for the HTML and the PDF).
            try:
                model = fit_codes(model, lang)
            except ValueError as error:
                self.module.fail_json(msg=f"handover.{username}: {error}.")
            wanted[f"{stem}.html"] = page_html(model, self.make_qr,
                                               self.svg_cache).encode("utf-8")
            wanted[f"{stem}.pdf"] = page_pdf(model, self.make_qr, self.missing,
                                             self.pdf_cache)
        for relative, content in sorted(wanted.items()):
            self.ensure(f"{username}/handover/{relative}", content)
        # Exactly what IT hands over: any other file goes (a revoked device's profile).
        base = os.path.join(folder, "handover")
        for root, _dirs, files in os.walk(base):
            for name in sorted(files):
                relative = os.path.relpath(os.path.join(root, name), base)
                if relative not in wanted and relative not in keep:
                    self.remove(f"{username}/handover/{relative}")


def main():
    module = AnsibleModule(
        argument_spec={
            "directory": {"type": "path", "required": True},
            "packs": {"type": "dict", "default": {}},
            "qr_codes": {"type": "dict", "default": {}},
            "handover": {"type": "dict", "default": {}},
            "handover_settings": {
                "type": "dict", "default": {},
                "options": {
                    "council_name": {"type": "str", "default": "Ajuntament"},
                    "helpdesk": {"type": "str", "default": ""},
                    "ca_certificate_file": {"type": "path"},
                    "vpn_gateway_address": {"type": "str"},
                },
            },
            "archive": {"type": "list", "elements": "str", "default": []},
            "identities": {"type": "dict", "default": {}},
            "keep": {"type": "list", "elements": "str"},
            "owner": {"type": "str", "default": "teletreball"},
        },
        supports_check_mode=True,
    )
    base, packs = module.params["directory"], module.params["packs"]
    archive = module.params["archive"]
    if not os.path.isabs(base):
        module.fail_json(msg=f"directory must be an absolute path, not {base}.")
    qr_codes, identities = module.params["qr_codes"], module.params["identities"]
    handover = module.params["handover"]
    for username in list(packs) + list(qr_codes) + archive + list(identities) + list(handover):
        if not USERNAME_RE.fullmatch(username):
            module.fail_json(msg=f"'{username}' is not a valid username.")
    for username, ident in identities.items():
        if not isinstance(ident, str) or not IDENTITY_RE.fullmatch(ident):
            module.fail_json(msg=f"identities.{username} must be a hex digest.")
    both = sorted(set(identities) & set(archive))
    if both:
        module.fail_json(msg=f"cannot both keep and archive the packs of: {', '.join(both)}.")
    both = sorted((set(packs) | set(qr_codes) | set(handover)) & set(archive))
    if both:
        module.fail_json(msg=f"cannot both write and archive the packs of: {', '.join(both)}.")

    people = os.path.join(base, "people")
    if module.params["keep"] is not None and os.path.isdir(people):
        keep = (set(module.params["keep"]) | set(packs) | set(qr_codes) | set(identities)
                | set(handover))
        archive = sorted(set(archive) | {
            name for name in os.listdir(people)
            if os.path.isdir(os.path.join(people, name)) and name not in keep
            and USERNAME_RE.fullmatch(name)
        })
    written, archived, before, after = [], [], [], []
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")

    def move_to_archive(username):
        archived.append(username)
        before.append(f"{username}: people/{username}")
        after.append(f"{username}: archive/{username}-{stamp}")
        if not module.check_mode:
            private_makedirs(os.path.join(base, "archive"))
            os.rename(os.path.join(people, username),
                      os.path.join(base, "archive", f"{username}-{stamp}"))

    def ensure(relative, content):
        """Write people/<relative> when its bytes differ (compare, then act)."""
        path = os.path.join(people, relative)
        old = read_bytes(path)
        if old != content:
            written.append(relative)
            before.append(f"{relative}: {'absent' if old is None else 'old'}")
            after.append(f"{relative}: written")
            if not module.check_mode:
                atomic_write(path, content)

    def remove(relative):
        written.append(f"{relative} (removed)")
        before.append(f"{relative}: old")
        after.append(f"{relative}: absent")
        if not module.check_mode:
            os.unlink(os.path.join(people, relative))

    # A username given to another person: her predecessor's folder goes first.
    renewed = set()
    for username, ident in sorted(identities.items()):
        recorded = read_bytes(os.path.join(people, username, ".identity"))
        if recorded is not None and recorded.decode("utf-8", "replace").strip() != ident:
            move_to_archive(username)
            renewed.add(username)
        if recorded is None or username in renewed:
            ensure(f"{username}/.identity", f"{ident}\n".encode())
    for username, files in sorted(packs.items()):
        if not isinstance(files, dict):
            module.fail_json(msg=f"packs.{username} must map file names to contents.")
        for name, content in sorted(files.items()):
            if not FILE_RE.fullmatch(name):
                module.fail_json(msg=f"packs.{username}: '{name}' is not a plain file name.")
            if not isinstance(content, str):
                module.fail_json(msg=f"packs.{username}.{name} must be text.")
            ensure(f"{username}/{name}", content.encode("utf-8"))

    # The text behind each QR code, remembered (as a SHA-256) from the run that drew
    # it: a code whose text did not change is not drawn again to be compared.
    memo_path = os.path.join(base, ".qr-codes.json")
    memo = read_memo(memo_path)
    new_memo = {}

    for username, codes in sorted(qr_codes.items()):
        if not isinstance(codes, dict):
            module.fail_json(msg=f"qr_codes.{username} must map file names to texts.")
        for name, text in sorted(codes.items()):
            if not FILE_RE.fullmatch(name) or not name.endswith(".png"):
                module.fail_json(
                    msg=f"qr_codes.{username}: '{name}' is not a plain .png file name."
                )
            if not isinstance(text, str) or not text:
                module.fail_json(msg=f"qr_codes.{username}.{name} must be a non-empty text.")
            relative = f"{username}/{name}"
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            new_memo[relative] = digest
            if memo.get(relative) == digest and os.path.isfile(os.path.join(people, relative)):
                continue
            ensure(relative, qr_png(module, text))
    if handover:
        if REPORTLAB_IMPORT_ERROR is not None:
            module.fail_json(
                msg=missing_required_lib("reportlab") + " It draws the handover's PDF "
                "pages: install requirements-controller.txt into the Python that runs "
                "ansible-playbook (make controller).",
                exception=REPORTLAB_IMPORT_ERROR,
            )
        people_data = {u: check_person(module, u, p) for u, p in handover.items()}
        work = Handover(module, people, ensure, remove, memo, new_memo)
        for username, person in sorted(people_data.items()):
            work.write(username, person)
        if work.missing:
            module.warn(
                "The PDF font lacks " + " ".join(sorted(work.missing)) + ": printed as '?' "
                "(the HTML page shows them). Install fonts-dejavu-core on the controller."
            )

    if any(memo.get(key) != digest for key, digest in new_memo.items()) and not module.check_mode:
        remember(memo_path, new_memo)

    # Folders made before (or by hand) must still be private.
    folders = sorted(set(packs) | set(qr_codes) | set(identities) | set(handover))
    for folder in [people] + [os.path.join(people, username) for username in folders]:
        if os.path.isdir(folder) and os.stat(folder).st_mode & 0o077:
            written.append(f"{os.path.relpath(folder, base)}/ (mode 0700)")
            if not module.check_mode:
                os.chmod(folder, 0o700)

    for username in sorted(archive):
        if os.path.isdir(os.path.join(people, username)):
            move_to_archive(username)

    if (written or archived) and not module.check_mode:
        lines = [f"{stamp} {module.params['owner']} wrote {item}\n" for item in written]
        lines += [
            f"{stamp} {module.params['owner']} archived {u} to archive/{u}-{stamp}\n"
            for u in archived
        ]
        append_audit(base, lines)

    result = {"changed": bool(written or archived), "written": written, "archived": archived}
    if module._diff:
        result["diff"] = {"before": "\n".join(before) + "\n", "after": "\n".join(after) + "\n"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
