#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: write the audit's report (two HTML pages and JSON) on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_audit_report
short_description: Write the audit's report for the auditor, from the outcomes of every host
description:
  - Takes the outcomes that M(teletreball_audit) returned on each host (and on the
    controller), decides the status of every control that applies to each host and
    writes the report into the folder O(dest) on the controller.
  - C(index.html) is one self-contained page (no script, no external resource) with the
    run, the counts, a summary per host and per ENS measure, the waivers, then every
    control of every host with its status, its CIS item, its ENS measures, why it fails
    or who waived it, and its evidence (commands, exit codes and output) collapsed.
  - The section "Certificates and keys" lists every certificate and signing key of every
    host and of the controller (subject, issuer, serial, end, days left) and every key,
    which does not expire (kind, algorithm, public key or fingerprint, mode, last change).
  - C(print.html) is the same page with every piece of evidence open, for printing on A4
    (a host per page). C(report.json) holds the same data for machines.
  - The controls that apply to a host are those whose C(audit) list in the catalogue
    names C(all) (every host but the controller), one of the host's groups, or
    C(controller) (the host named C(controller) only). A control without C(audit) is
    placed by its role (baseline and logs on all hosts, vpn on vpn_gateways, vdi on
    vdi_hosts, pbx on pbx_servers, conference on conference_servers, package_repo on
    package_repo_hosts, pki and teletreball on the controller).
  - The status of a control on a host is PASS when its check passed; FAIL when it was not
    checked (the host unreachable, for instance), its check could not run (ERROR) or it
    failed; WAIVED when it failed and a waiver in force covers it. A waiver covers a
    failure when it names the control, the host (by name or group, or by being a
    container for C(applies_to=container)), has not expired, and either its scope is
    C(control) or every failed requirement is one the check marked waivable.
  - A waiver is in force up to and including its C(expires) date (UTC); from the next day
    the control is FAIL with "waiver expired on <date>".
  - Every value in the pages is HTML-escaped, since evidence comes from the hosts.
  - The folder is made with mode C(0700) (its missing parents too) and each file is
    written with mode C(0600), atomically (a temporary file renamed in the same folder).
options:
  dest:
    description: The report's folder, such as C(reports/lab/2026-12-07T101500Z).
    type: path
    required: true
  inventory:
    description: The inventory's name, shown in the title.
    type: str
    required: true
  catalogue:
    description:
      - C(controls/catalogue.yml). Each control has C(id), C(title), C(role), C(cis)
        (text or null), optionally C(cis_note), C(ens) (codes of measures), C(description)
        and C(audit) (where it is checked).
      - Its optional top-level C(ens_measures) maps a code to C(name), C(category)
        (básica, media or alta) and optionally C(note).
    type: path
    required: true
  waivers:
    description:
      - C(controls/waivers.yml), whose C(waivers) list holds C(control), C(applies_to)
        (C(container)), C(reason), C(approved_by) and C(expires) (YYYY-MM-DD).
      - A waiver there without C(approved_by) or C(expires) does not apply; the report and
        a warning say why. Any other malformed field fails the module.
    type: path
    required: true
  extra_waivers:
    description:
      - The council's own waivers, from the inventory. Each has the fields of a waiver
        of O(waivers), with C(applies_to) optional, plus C(hosts) (names of hosts or
        groups it covers) and C(scope).
      - C(scope=waivable) (the default) covers only the requirements the check marked
        waivable; C(scope=control) covers every requirement of the control on those hosts.
      - Every field is checked; a malformed waiver fails the module, naming its index and
        field.
    type: list
    elements: dict
    default: []
  hosts:
    description:
      - Host name to C(groups), C(container) (bool), C(virtualization), C(results) (the
        outcomes M(teletreball_audit) returned), and optionally C(unreachable) (bool) and
        C(error) (why it could not be checked).
      - The controller appears as the host C(controller), with groups C([controller]).
      - Optionally C(credentials), what M(teletreball_cert_expiry) returned on the host
        (C(certificates), C(openpgp_keys), C(keys), C(errors)); the report's section
        "Certificates and keys" lists each with its end and the days left at the report's
        time, the soonest first; a key does not expire.
    type: dict
    required: true
  run:
    description: Metadata of the run shown in the report, such as C(started), C(finished),
      C(ansible_version), C(user), C(commit) and C(command).
    type: dict
    default: {}
  now:
    description: The time of the report (ISO 8601, UTC when it has no zone); now when
      omitted. It dates the report and decides which waivers have expired. For tests.
    type: str
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Decides every status and returns the summary and whether the report would
      change, writing nothing.
  diff_mode:
    support: none
notes:
  - Runs on the controller (C(delegate_to=localhost) or a play on localhost); needs PyYAML.
  - Reports a change when a file of the report is written or the folder's mode is set;
    a new folder is always a change. When the files already hold the same report, it
    writes nothing.
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Write the report
  teletreball_audit_report:
    dest: >-
      {{ playbook_dir }}/../reports/{{ _audit_inventory }}/{{
      _audit_started | replace(':', '') }}
    inventory: "{{ _audit_inventory }}"
    catalogue: "{{ playbook_dir }}/../controls/catalogue.yml"
    waivers: "{{ playbook_dir }}/../controls/waivers.yml"
    extra_waivers:
      - control: BL-TIME-01
        hosts: [pbx_servers]
        scope: control
        reason: The PBX follows the carrier's clock until the new NTP servers are in place.
        approved_by: Head of IT, council decree 2026/114
        expires: "2027-03-31"
    hosts:
      pbx1:
        groups: [pbx_servers]
        container: false
        virtualization: kvm
        results: "{{ hostvars['pbx1']._audit_outcomes }}"
      controller:
        groups: [controller]
        container: false
        virtualization: controller
        results: "{{ _controller_outcomes }}"
    run:
      started: "{{ _audit_started }}"
      finished: "{{ now(utc=true, fmt='%Y-%m-%dT%H:%M:%SZ') }}"
      ansible_version: "{{ ansible_version.full }}"
  delegate_to: localhost
  run_once: true
  register: _audit_report
"""

RETURN = r"""
summary:
  description: How many controls are PASS, FAIL and WAIVED over all hosts, and how many
    hosts the report covers.
  returned: always
  type: dict
  contains:
    PASS:
      description: Controls that passed.
      type: int
    FAIL:
      description: Controls that failed, could not be checked or were not checked.
      type: int
    WAIVED:
      description: Controls that failed where a waiver in force covers the failure.
      type: int
    hosts:
      description: Hosts in the report, the controller included.
      type: int
  sample: {PASS: 118, FAIL: 1, WAIVED: 6, hosts: 4}
failed_controls:
  description:
    - Each control that is FAIL on a host, with why.
    - Not named C(failed), which Ansible would read as the task's own failure.
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The host's name.
      type: str
    id:
      description: The control's ID.
      type: str
    title:
      description: The control's title.
      type: str
    reasons:
      description: Each failed requirement with the evidence line that shows it, or why
        the control was not checked, and why a waiver did not apply.
      type: list
      elements: str
  sample:
    - host: pbx1
      id: BL-SSH-02
      title: No direct root login over SSH
      reasons: ['sshd refuses root: "permitrootlogin yes"']
files:
  description: The report's files, C(index.html) first (empty in check mode).
  returned: always
  type: list
  elements: str
  sample:
    - reports/lab/2026-12-07T101500Z/index.html
    - reports/lab/2026-12-07T101500Z/print.html
    - reports/lab/2026-12-07T101500Z/report.json
dest:
  description: The report's folder.
  returned: always
  type: str
  sample: reports/lab/2026-12-07T101500Z
"""

import datetime
import html
import json
import math
import os
import re
import stat

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.teletreball_files import atomic_write, private_makedirs

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with Ansible on the controller
    HAS_YAML = False

PASS = "PASS"  # noqa: S105 - a status, not a password
FAIL = "FAIL"
WAIVED = "WAIVED"
ERROR = "ERROR"
STATUSES = (PASS, FAIL, WAIVED)
CONTROLLER = "controller"
SCOPES = ("waivable", "control")
# Where a control is checked when the catalogue gives no `audit` list.
DEFAULT_PLACES = {
    "baseline": ["all"], "logs": ["all"], "vpn": ["vpn_gateways"], "vdi": ["vdi_hosts"],
    "pbx": ["pbx_servers"], "conference": ["conference_servers"],
    "package_repo": ["package_repo_hosts"], "pki": [CONTROLLER], "teletreball": [CONTROLLER],
}
DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
FILES = ("index.html", "print.html", "report.json")


class Malformed(Exception):
    """The module's input cannot make a report; ``problems`` says each thing wrong."""

    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = problems


# --- reading the input ----------------------------------------------------------------


def text_of(value):
    """A stripped text of a scalar value, "" for None."""
    if value is None:
        return ""
    return str(value).strip()


def names_of(value):
    """A list of texts from a list (or one text), dropping empty ones."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return None
    return [text_of(item) for item in value if text_of(item)]


def parse_date(value):
    """A date from a YAML date or a YYYY-MM-DD text, or None."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and DATE.match(value.strip()):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def parse_now(value):
    """The report's time as an aware UTC datetime (now when ``value`` is empty)."""
    if not value:
        return datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def load_yaml(path, what):
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise Malformed([f"Cannot read the {what} {path}: {exc.strerror}."]) from exc
    except yaml.YAMLError as exc:
        raise Malformed([f"The {what} {path} is not valid YAML: {exc}"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Malformed([f"The {what} {path} is not a mapping."])
    return data


def read_catalogue(path):
    """(controls in order, ENS measures) of the catalogue, normalised."""
    data = load_yaml(path, "catalogue")
    items = data.get("controls")
    if not isinstance(items, list) or not items:
        raise Malformed([f"The catalogue {path} has no list of controls."])
    controls, problems, seen = [], [], set()
    for index, item in enumerate(items):
        where = f"catalogue controls[{index}]"
        if not isinstance(item, dict) or not text_of(item.get("id")):
            problems.append(f"{where}: a control needs an id.")
            continue
        control_id = text_of(item["id"])
        if control_id in seen:
            problems.append(f"{where}: {control_id} is listed twice.")
            continue
        seen.add(control_id)
        role = text_of(item.get("role"))
        places = names_of(item.get("audit"))
        if places is None:
            problems.append(f"{where}.audit: must be a list of groups, all or controller.")
            continue
        if item.get("audit") is None:
            places = list(DEFAULT_PLACES.get(role, []))
        cis = item.get("cis")
        controls.append({
            "id": control_id,
            "title": text_of(item.get("title")) or control_id,
            "role": role,
            "cis": text_of(cis) if cis is not None else None,
            "cis_note": text_of(item.get("cis_note")) or None,
            "ens": names_of(item.get("ens")) or [],
            "description": text_of(item.get("description")),
            "audit": places,
        })
    if problems:
        raise Malformed(problems)
    measures = {}
    raw = data.get("ens_measures")
    if isinstance(raw, dict):
        for code, measure in raw.items():
            if isinstance(measure, dict):
                measures[text_of(code)] = {
                    "name": text_of(measure.get("name")),
                    "category": text_of(measure.get("category")),
                    "note": text_of(measure.get("note")),
                }
            else:
                measures[text_of(code)] = {"name": text_of(measure), "category": "", "note": ""}
    return controls, measures


def read_waiver(item, where, source, known, inventory, today, problems):
    """One waiver, normalised, with its state: in force, expired or invalid (why).

    Malformed fields go to ``problems``. A waiver of waivers.yml (``inventory`` False)
    without approved_by or expires is kept as invalid rather than malformed."""
    if not isinstance(item, dict):
        problems.append(f"{where}: must be a mapping (control, reason, approved_by, expires"
                        f"{', hosts' if inventory else ', applies_to'}).")
        return None
    before = len(problems)
    control = text_of(item.get("control"))
    if not control:
        problems.append(f"{where}.control: missing or empty.")
    elif control not in known:
        problems.append(f"{where}.control: {control!r} is not a control of the catalogue.")
    if not text_of(item.get("reason")):
        problems.append(f"{where}.reason: missing or empty.")
    applies_to = item.get("applies_to")
    if applies_to is not None and applies_to != "container":
        problems.append(f"{where}.applies_to: {applies_to!r} is not container, its only value.")
    scope = item.get("scope", "waivable")
    if scope not in SCOPES:
        problems.append(f"{where}.scope: {scope!r} is neither waivable nor control.")
    hosts = None
    if "hosts" in item or inventory:
        hosts = names_of(item.get("hosts"))
        if not hosts or not isinstance(item.get("hosts"), list):
            problems.append(f"{where}.hosts: must be a list naming at least one host or group.")
    elif applies_to is None:
        problems.append(f"{where}.applies_to: missing (container), or hosts: missing.")
    invalid = []
    approved_by = text_of(item.get("approved_by"))
    if not approved_by:
        if inventory:
            problems.append(f"{where}.approved_by: missing or empty.")
        invalid.append("no approved_by")
    expires_raw = item.get("expires")
    expires = parse_date(expires_raw)
    if expires_raw is None or text_of(expires_raw) == "":
        if inventory:
            problems.append(f"{where}.expires: missing (a date YYYY-MM-DD).")
        invalid.append("no expires date")
    elif expires is None:
        problems.append(f"{where}.expires: {text_of(expires_raw)!r} is not a date YYYY-MM-DD.")
    if len(problems) > before:
        return None
    waiver = {
        "source": source, "label": where, "control": control,
        "applies_to": applies_to, "hosts": hosts, "scope": scope,
        "reason": text_of(item.get("reason")), "approved_by": approved_by,
        "expires": expires.isoformat() if expires else None,
    }
    if invalid:
        waiver["state"] = "invalid"
        waiver["problem"] = ", ".join(invalid)
    elif expires < today:
        waiver["state"] = "expired"
        waiver["problem"] = f"expired on {waiver['expires']}"
    else:
        waiver["state"] = "in force"
    return waiver


def read_waivers(path, extra, known, today):
    data = load_yaml(path, "waivers file")
    listed = data.get("waivers") or []
    problems = []
    if not isinstance(listed, list):
        raise Malformed([f"The waivers file {path}: waivers must be a list."])
    name = os.path.basename(path)
    waivers = []
    for index, item in enumerate(listed):
        waivers.append(read_waiver(item, f"{name} waivers[{index}]", "waivers file", known,
                                   False, today, problems))
    for index, item in enumerate(extra):
        waivers.append(read_waiver(item, f"extra_waivers[{index}]", "inventory", known,
                                   True, today, problems))
    if problems:
        raise Malformed(problems)
    return waivers


def read_hosts(hosts):
    """Host name -> normalised host (outcomes by control ID, the worst kept)."""
    problems, out = [], {}
    rank = {PASS: 0, FAIL: 1, ERROR: 2}
    for name, host in hosts.items():
        where = f"hosts.{name}"
        if not isinstance(host, dict):
            problems.append(f"{where}: must be a mapping (groups, container, results).")
            continue
        groups = names_of(host.get("groups"))
        results = host.get("results") or []
        if groups is None:
            problems.append(f"{where}.groups: must be a list of group names.")
            continue
        if not isinstance(results, list):
            problems.append(f"{where}.results: must be the list of outcomes of teletreball_audit.")
            continue
        outcomes = {}
        for index, outcome in enumerate(results):
            if not isinstance(outcome, dict) or not text_of(outcome.get("id")):
                problems.append(f"{where}.results[{index}]: an outcome needs an id.")
                continue
            outcome = normalise_outcome(outcome)
            kept = outcomes.get(outcome["id"])
            if kept is None or rank[outcome["status"]] > rank[kept["status"]]:
                outcomes[outcome["id"]] = outcome
        credentials = host.get("credentials")
        if credentials is not None and not isinstance(credentials, dict):
            problems.append(f"{where}.credentials: must be what teletreball_cert_expiry returned.")
            continue
        out[str(name)] = {
            "credentials": read_credentials(credentials or {}),
            "groups": groups,
            "container": bool(host.get("container")),
            "virtualization": text_of(host.get("virtualization")) or "unknown",
            "unreachable": bool(host.get("unreachable")),
            "error": text_of(host.get("error")),
            "outcomes": outcomes,
        }
    if problems:
        raise Malformed(problems)
    return out


CERTIFICATE_FIELDS = ("path", "kind", "subject", "issuer", "serial", "not_before",
                      "not_after")
OPENPGP_FIELDS = ("path", "fingerprint", "uid", "created", "not_after")
KEY_FIELDS = ("path", "kind", "algorithm", "public", "mode", "modified", "certificate")


def pick(item, fields):
    return {field: text_of(item.get(field)) for field in fields}


def read_credentials(credentials):
    """The certificates, signing keys, keys and unreadable files of a host, as texts."""

    def listed(key):
        value = credentials.get(key)
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) \
            else []

    certificates = []
    for item in listed("certificates"):
        entry = pick(item, CERTIFICATE_FIELDS)
        entry["internal"] = bool(item.get("internal"))
        certificates.append(entry)
    return {
        "certificates": certificates,
        "openpgp_keys": [pick(item, OPENPGP_FIELDS) for item in listed("openpgp_keys")],
        "keys": [pick(item, KEY_FIELDS) for item in listed("keys")],
        "errors": [pick(item, ("path", "error")) for item in listed("errors")],
    }


def days_until(text, now):
    """Whole days from ``now`` to the ISO 8601 time ``text`` (negative once past), None
    when there is no such time."""
    if not text:
        return None
    try:
        moment = parse_now(text)
    except ValueError:
        return None
    return math.floor((moment - now).total_seconds() / 86400)


def dated_credentials(credentials, now):
    """The host's credentials with the days left at the report's time."""
    return {
        "certificates": [dict(item, days_left=days_until(item["not_after"], now))
                         for item in credentials["certificates"]],
        "openpgp_keys": [dict(item, days_left=days_until(item["not_after"], now))
                         for item in credentials["openpgp_keys"]],
        "keys": [dict(item, expires=None) for item in credentials["keys"]],
        "errors": credentials["errors"],
    }


def normalise_outcome(outcome):
    status = text_of(outcome.get("status")).upper()
    error = text_of(outcome.get("error"))
    if status not in (PASS, FAIL, ERROR):
        error = error or f"the check returned the status {status or 'nothing'}"
        status = ERROR
    findings = []
    for finding in outcome.get("findings") or []:
        if isinstance(finding, dict):
            findings.append({
                "ok": bool(finding.get("ok")),
                "requirement": text_of(finding.get("requirement")),
                "evidence": "" if finding.get("evidence") is None else str(finding["evidence"]),
                "waivable": bool(finding.get("waivable")),
            })
    evidence = []
    for item in outcome.get("evidence") or []:
        if isinstance(item, dict):
            evidence.append({
                "source": text_of(item.get("source")),
                "rc": item.get("rc"),
                "text": "" if item.get("text") is None else str(item["text"]),
            })
    normalised = {"id": text_of(outcome["id"]), "status": status, "findings": findings,
                  "evidence": evidence}
    if status == ERROR:
        normalised["error"] = error or "the check gave no reason"
    return normalised


# --- deciding -------------------------------------------------------------------------


def applies(control, name, host):
    places = set(control["audit"])
    groups = set(host["groups"]) - {"all"}
    if name == CONTROLLER:
        return CONTROLLER in places or bool(places & groups)
    return "all" in places or bool(places & (groups - {CONTROLLER}))


def names_host(waiver, name, host):
    """Whether the waiver's hosts list (if any) names the host or one of its groups."""
    if waiver["hosts"] is None:
        return True
    listed = set(waiver["hosts"])
    return name in listed or bool(listed & set(host["groups"]))


def covers_host(waiver, name, host):
    if not names_host(waiver, name, host):
        return False
    return waiver["applies_to"] != "container" or host["container"]


def public_waiver(waiver):
    keys = ("source", "label", "control", "applies_to", "hosts", "scope", "reason",
            "approved_by", "expires", "state")
    shown = {key: waiver[key] for key in keys}
    if waiver.get("problem"):
        shown["problem"] = waiver["problem"]
    return shown


def quote_finding(finding):
    if finding["evidence"].strip():
        return f"{finding['requirement']}: \"{finding['evidence']}\""
    return f"{finding['requirement']} (no evidence line)"


def judge(control, name, host, waivers):
    """The report's row of one control on one host."""
    outcome = host["outcomes"].get(control["id"])
    row = {
        "id": control["id"], "title": control["title"], "cis": control["cis"],
        "cis_note": control["cis_note"], "ens": control["ens"],
        "description": control["description"],
        "check": outcome["status"] if outcome else None,
        "findings": outcome["findings"] if outcome else [],
        "evidence": outcome["evidence"] if outcome else [],
        "failed": [], "reasons": [], "notes": [],
    }
    mine = [w for w in waivers if w["control"] == control["id"]]
    candidates = [w for w in mine if covers_host(w, name, host)]
    if outcome is None:
        row["status"] = FAIL
        if host["unreachable"]:
            why = "not checked: the host was unreachable"
        else:
            why = "not checked"
        if host["error"]:
            why += f" ({host['error']})"
        row["reasons"].append(why)
        return row
    if outcome["status"] == PASS:
        row["status"] = PASS
        if candidates:
            row["notes"].append("waiver not needed ("
                                + ", ".join(w["label"] for w in candidates) + ")")
        return row
    if outcome["status"] == ERROR:
        row["status"] = FAIL
        row["error"] = outcome["error"]
        row["reasons"].append(f"the check could not run: {outcome['error']}")
        return row
    failed = [finding for finding in outcome["findings"] if not finding["ok"]]
    row["failed"] = failed
    only_waivable = bool(failed) and all(finding["waivable"] for finding in failed)
    chosen, why_not = None, []
    for waiver in candidates:
        if waiver["state"] == "invalid":
            why_not.append(f"waiver {waiver['label']} does not apply: {waiver['problem']}")
        elif waiver["state"] == "expired":
            why_not.append(f"waiver expired on {waiver['expires']} ({waiver['label']})")
        elif waiver["scope"] == "waivable" and not only_waivable:
            others = [f["requirement"] for f in failed if not f["waivable"]]
            why_not.append(f"waiver {waiver['label']} covers waivable requirements only, not: "
                           + ("; ".join(others) or "a failure without a stated requirement"))
        else:
            chosen = waiver
            break
    for waiver in mine:
        if waiver not in candidates and waiver["applies_to"] == "container" \
                and names_host(waiver, name, host):
            why_not.append(f"waiver {waiver['label']} not applied: the host is not a container")
    if chosen is not None:
        row["status"] = WAIVED
        row["waiver"] = public_waiver(chosen)
        row["notes"].extend(why_not)
        return row
    row["status"] = FAIL
    row["reasons"].extend(quote_finding(finding) for finding in failed)
    if not failed:
        row["reasons"].append("the check failed without naming a requirement")
    row["reasons"].extend(why_not)
    return row


def counts(rows):
    found = dict.fromkeys(STATUSES, 0)
    for row in rows:
        found[row["status"]] += 1
    return found


def ens_key(code):
    head = code.split(".", 1)[0]
    parts = [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in code.split(".")]
    return ({"org": 0, "op": 1, "mp": 2}.get(head, 3), parts)


def build(params, now):
    """The whole report as plain data (what report.json holds, plus the rows' extras)."""
    controls, measures = read_catalogue(params["catalogue"])
    known = {control["id"] for control in controls}
    waivers = read_waivers(params["waivers"], params["extra_waivers"] or [], known, now.date())
    hosts = read_hosts(params["hosts"])
    by_id = {control["id"]: control for control in controls}
    order = {control["id"]: index for index, control in enumerate(controls)}
    report_hosts = {}
    for name in sorted(hosts, key=lambda host_name: (host_name == CONTROLLER, host_name)):
        host = hosts[name]
        rows = []
        for control in controls:
            if applies(control, name, host) or control["id"] in host["outcomes"]:
                rows.append(judge(control, name, host, waivers))
        for control_id in sorted(set(host["outcomes"]) - set(by_id)):
            stranger = {"id": control_id, "title": "(not in the catalogue)", "cis": None,
                        "cis_note": None, "ens": [], "description": "", "audit": []}
            rows.append(judge(stranger, name, host, waivers))
        report_hosts[name] = {
            "credentials": dated_credentials(host["credentials"], now),
            "groups": host["groups"], "container": host["container"],
            "virtualization": host["virtualization"], "unreachable": host["unreachable"],
            "error": host["error"], "summary": counts(rows), "controls": rows,
        }
    for waiver in waivers:
        waiver["covers"] = [name for name in report_hosts
                            if covers_host(waiver, name, hosts[name])
                            and any(row["id"] == waiver["control"]
                                    for row in report_hosts[name]["controls"])]
    all_rows = [row for host in report_hosts.values() for row in host["controls"]]
    ens = {}
    for code in sorted(set(measures) | {code for row in all_rows for code in row["ens"]},
                       key=ens_key):
        measure = measures.get(code, {})
        rows = [row for row in all_rows if code in row["ens"]]
        ens[code] = {"name": measure.get("name", ""), "category": measure.get("category", ""),
                     "note": measure.get("note", ""), **counts(rows),
                     "controls": sorted({row["id"] for row in rows},
                                        key=lambda cid: (order.get(cid, len(order)), cid))}
    summary = dict(counts(all_rows), hosts=len(report_hosts))
    return {
        "schema": 1,
        "inventory": params["inventory"],
        "generated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run": params["run"] or {},
        "summary": summary,
        "ens": ens,
        "waivers": waivers,
        "hosts": report_hosts,
    }


def failures(report):
    return [{"host": name, "id": row["id"], "title": row["title"], "reasons": row["reasons"]}
            for name, host in report["hosts"].items()
            for row in host["controls"] if row["status"] == FAIL]


# --- writing --------------------------------------------------------------------------


def as_json(report):
    """report.json: the report without what only the pages need."""
    hosts = {}
    for name, host in report["hosts"].items():
        rows = []
        for row in host["controls"]:
            kept = {key: row[key] for key in ("id", "title", "status", "check", "cis", "ens",
                                              "findings", "evidence")}
            if row["cis_note"]:
                kept["cis_note"] = row["cis_note"]
            for key in ("waiver", "error"):
                if key in row:
                    kept[key] = row[key]
            for key in ("reasons", "notes"):
                if row[key]:
                    kept[key] = row[key]
            rows.append(kept)
        hosts[name] = {key: host[key] for key in ("groups", "container", "virtualization",
                                                  "unreachable", "summary")}
        if host["error"]:
            hosts[name]["error"] = host["error"]
        hosts[name]["controls"] = rows
        hosts[name]["credentials"] = host["credentials"]
    data = {key: report[key] for key in ("schema", "inventory", "generated", "run", "summary",
                                         "ens")}
    data["waivers"] = [dict(public_waiver(w), covers=w["covers"]) for w in report["waivers"]]
    data["hosts"] = hosts
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n"


def e(value):
    """``value`` as HTML text: escaped (quotes too), unprintable characters replaced."""
    text = value if isinstance(value, str) else str(value)
    text = UNPRINTABLE.sub("\ufffd", text)
    return html.escape(text, quote=True)


def anchor(prefix, index, name):
    return f"{prefix}{index}-" + re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:60]


def badge(status):
    return f'<span class="badge {status.lower()}">{e(status)}</span>'


CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, "Segoe UI", "DejaVu Sans", Arial, sans-serif; color: #1b1b1b;
  background: #fff; max-width: 76rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 .25rem; }
h2 { font-size: 1.3rem; border-bottom: 2px solid #444; padding-bottom: .15rem;
  margin: 2rem 0 .6rem; }
h3 { font-size: 1.05rem; margin: 0 0 .3rem; }
a { color: #0b4f9c; }
.lead { margin: 0 0 .5rem; color: #333; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; font-size: .92rem; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td { border: 1px solid #999; padding: .2rem .45rem; text-align: left; vertical-align: top; }
thead th { background: #e8e8e8; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
dl.run { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; }
dl.run dt { font-weight: 600; }
dl.run dd { margin: 0; overflow-wrap: anywhere; }
.badge { display: inline-block; min-width: 4.6em; text-align: center; font-weight: 700;
  font-size: .82rem; letter-spacing: .04em; padding: 0 .35rem; border: 2px solid;
  border-radius: 3px; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.badge.pass { color: #0b5d1e; background: #e2f3e5; border-color: #2e7d32; }
.badge.fail { color: #8a1010; background: #fde6e6; border-color: #c62828; }
.badge.waived { color: #5f3b00; background: #fff1cc; border-color: #b7791f; }
.totals { font-size: 1.1rem; margin: .3rem 0 .8rem; }
.totals .badge { margin-left: .8rem; }
.verdict { font-weight: 700; }
.host-meta { margin: 0 0 .6rem; }
.warning { border: 2px solid #c62828; padding: .3rem .6rem; font-weight: 600; }
.control { border: 1px solid #bbb; border-left: 7px solid #777; padding: .5rem .8rem;
  margin: .55rem 0; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.control.pass { border-left-color: #2e7d32; }
.control.fail { border-left-color: #c62828; }
.control.waived { border-left-color: #b7791f; }
.cid { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-weight: 700; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 0 1rem; margin: .2rem 0;
  font-size: .92rem; }
dl.meta dt { font-weight: 600; color: #333; }
dl.meta dd { margin: 0; }
.why { margin: .4rem 0; }
.why p { margin: .2rem 0; font-weight: 600; }
.why ul { margin: .1rem 0 .2rem 1.2rem; padding: 0; }
q.ev { quotes: "\\201C" "\\201D"; font-family: ui-monospace, "DejaVu Sans Mono", monospace;
  font-size: .86rem; background: #f3f3f3; padding: 0 .2rem; overflow-wrap: anywhere; }
.notes { font-size: .9rem; color: #333; margin: .2rem 0; }
details { margin: .3rem 0 0; }
summary { cursor: pointer; font-weight: 600; font-size: .92rem; }
.src { margin: .5rem 0 .1rem; font-size: .88rem; overflow-wrap: anywhere; }
.src code { font-weight: 600; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; border: 1px solid #ddd;
  padding: .35rem .5rem; margin: 0 0 .4rem; font-size: .8rem; line-height: 1.3; }
.small { font-size: .86rem; color: #333; }
nav ul { columns: 3 14rem; margin: .2rem 0; }
td.soon { font-weight: 700; color: #8a1c1c; }
td.fp { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .8rem;
  overflow-wrap: anywhere; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  .screen-only { display: none; }
  a { color: inherit; text-decoration: none; }
  section.host { break-before: page; }
  h2, h3 { break-after: avoid; }
  .control { break-inside: avoid-page; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  pre { font-size: 7.5pt; }
}
"""


def render_run(run):
    if not run:
        return "<p>No metadata of the run was given.</p>"
    order = ["started", "finished", "ansible_version", "user", "commit", "command"]
    keys = [key for key in order if key in run] + sorted(k for k in run if k not in order)
    items = []
    for key in keys:
        value = run[key]
        if not isinstance(value, str):
            value = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
        items.append(f"<dt>{e(key.replace('_', ' '))}</dt><dd>{e(value)}</dd>")
    return '<dl class="run">' + "".join(items) + "</dl>"


def render_ens_list(codes, ens):
    if not codes:
        return "none"
    items = []
    for code in codes:
        measure = ens.get(code, {})
        label = f"<strong>{e(code)}</strong>"
        if measure.get("name"):
            label += f" {e(measure['name'])}"
        if measure.get("category"):
            label += f" (category {e(measure['category'])})"
        items.append(label)
    return "; ".join(items)


def render_cis(row):
    parts = []
    if row["cis"]:
        parts.append(e(row["cis"]))
    if row["cis_note"]:
        parts.append(f'<span class="small">{e(row["cis_note"])}</span>')
    return "<br>".join(parts) or "no CIS item"


def render_failed_list(findings):
    items = []
    for finding in findings:
        line = e(finding["requirement"] or "(requirement not stated)")
        if finding["evidence"].strip():
            line += f'<br>Evidence: <q class="ev">{e(finding["evidence"])}</q>'
        else:
            line += "<br>Evidence: none given"
        items.append(f"<li>{line}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def render_why(row):
    out = []
    if row["status"] == FAIL:
        out.append('<div class="why">')
        if row["failed"]:
            out.append("<p>Failed requirements</p>" + render_failed_list(row["failed"]))
        others = [reason for reason in row["reasons"]
                  if reason not in [quote_finding(f) for f in row["failed"]]]
        if others:
            out.append("<p>Why</p><ul>" + "".join(f"<li>{e(r)}</li>" for r in others) + "</ul>")
        out.append("</div>")
    elif row["status"] == WAIVED:
        waiver = row["waiver"]
        covers = ("every requirement of the control" if waiver["scope"] == "control"
                  else "the waivable requirements")
        out.append('<div class="why"><p>Waived requirements</p>'
                   + render_failed_list(row["failed"]))
        out.append('<dl class="meta">'
                   f"<dt>Waiver</dt><dd>{e(waiver['label'])} (covers {e(covers)})</dd>"
                   f"<dt>Reason</dt><dd>{e(waiver['reason'])}</dd>"
                   f"<dt>Approved by</dt><dd>{e(waiver['approved_by'])}</dd>"
                   f"<dt>Expires</dt><dd>{e(waiver['expires'])}</dd></dl></div>")
    if row["notes"]:
        out.append('<p class="notes">Note: ' + "; ".join(e(n) for n in row["notes"]) + "</p>")
    return "".join(out)


def render_evidence(row, opened):
    findings, evidence = row["findings"], row["evidence"]
    if not findings and not evidence:
        return '<p class="small">No evidence: the check did not run.</p>'
    label = (f"Evidence: {len(findings)} requirement{'s' * (len(findings) != 1)}, "
             f"{len(evidence)} command{'s' * (len(evidence) != 1)} or file"
             f"{'s' * (len(evidence) != 1)}")
    out = [f"<details{' open' if opened else ''}><summary>{e(label)}</summary>"]
    if row["description"]:
        out.append(f'<p class="small">What the control requires: {e(row["description"])}</p>')
    if findings:
        out.append("<table><thead><tr><th scope=\"col\">Requirement</th>"
                   "<th scope=\"col\">Result</th><th scope=\"col\">Evidence line</th></tr>"
                   "</thead><tbody>")
        for finding in findings:
            result = "met" if finding["ok"] else "NOT MET"
            if not finding["ok"] and finding["waivable"]:
                result += " (waivable)"
            out.append(f"<tr><td>{e(finding['requirement'])}</td><td>{e(result)}</td>"
                       f"<td><code>{e(finding['evidence'])}</code></td></tr>")
        out.append("</tbody></table>")
    for item in evidence:
        rc = "exit code unknown" if item["rc"] is None else f"exit {item['rc']}"
        out.append(f'<p class="src"><code>{e(item["source"])}</code> ({e(rc)})</p>'
                   f"<pre>{e(item['text']) or '(no output)'}</pre>")
    out.append("</details>")
    return "".join(out)


SOON_DAYS = 45


def render_days(days):
    """The days left as a table cell, marked when fewer than SOON_DAYS."""
    if days is None:
        return "<td>-</td>"
    text = f"{-days} days ago" if days < 0 else f"{days}"
    mark = ' class="n soon"' if days < SOON_DAYS else ' class="n"'
    return f"<td{mark}>{e(text)}</td>"


def render_credentials(hosts):
    """The section "Certificates and keys": every certificate and signing key of every
    host, the soonest end first; then every key, which does not expire."""
    out = ['<section id="credentials" aria-labelledby="credentials-h">'
           '<h2 id="credentials-h">Certificates and keys</h2>'
           f'<p class="small">Every certificate of each host (its /etc/teletreball/pki) and, on '
           "the controller, the internal CA and the package repository's signing key, with "
           "their end and the days left at the report's time, the soonest first (marked when "
           f"fewer than {SOON_DAYS}). Every run of site.yml warns about each one that it does not "
           "renew from pki_expiry_warn_days (45) days before its end, and stops from "
           "pki_expiry_fail_days (7). Keys do not expire: they are listed with their last "
           "change, that is when they were made or rotated.</p>"]
    ends = []
    for name, host in hosts.items():
        for item in host["credentials"]["certificates"]:
            issuer = item["issuer"] + (" (internal CA)" if item["internal"] else "")
            ends.append((name, item["path"], item["kind"], item["subject"], issuer,
                         item["serial"], item["not_after"], item["days_left"]))
        for item in host["credentials"]["openpgp_keys"]:
            ends.append((name, item["path"], "OpenPGP signing key", item["uid"],
                         f"fingerprint {item['fingerprint']}", "-",
                         item["not_after"] or "does not expire", item["days_left"]))
    ends.sort(key=lambda row: (row[7] is None, row[7] if row[7] is not None else 0, row[0],
                               row[1]))
    if ends:
        out.append("<table><caption>Certificates and signing keys, the soonest end first"
                   "</caption><thead><tr>"
                   '<th scope="col">Host</th><th scope="col">File</th><th scope="col">Kind</th>'
                   '<th scope="col">Subject</th><th scope="col">Issuer</th>'
                   '<th scope="col">Serial</th><th scope="col">Ends (UTC)</th>'
                   '<th scope="col" class="n">Days left</th></tr></thead><tbody>')
        for name, path, kind, subject, issuer, serial, not_after, days in ends:
            out.append(f'<tr><th scope="row">{e(name)}</th><td class="fp">{e(path)}</td>'
                       f"<td>{e(kind)}</td><td>{e(subject or '-')}</td><td>{e(issuer or '-')}</td>"
                       f'<td class="fp">{e(serial)}</td><td>{e(not_after or "-")}</td>'
                       f"{render_days(days)}</tr>")
        out.append("</tbody></table>")
    else:
        out.append("<p>No certificate or signing key was read.</p>")
    keys = [(name, item) for name, host in hosts.items() for item in host["credentials"]["keys"]]
    if keys:
        out.append("<table><caption>Keys (they do not expire)</caption><thead><tr>"
                   '<th scope="col">Host</th><th scope="col">File</th><th scope="col">Kind</th>'
                   '<th scope="col">Algorithm</th><th scope="col">Public key or fingerprint</th>'
                   '<th scope="col">Mode</th><th scope="col">Last changed (UTC)</th>'
                   '<th scope="col">Expires</th></tr></thead><tbody>')
        for name, item in keys:
            out.append(f'<tr><th scope="row">{e(name)}</th><td class="fp">{e(item["path"])}</td>'
                       f"<td>{e(item['kind'])}</td><td>{e(item['algorithm'] or '-')}</td>"
                       f'<td class="fp">{e(item["public"] or "-")}</td><td>{e(item["mode"])}</td>'
                       f"<td>{e(item['modified'] or '-')}</td><td>does not expire</td></tr>")
        out.append("</tbody></table>")
    errors = [(name, item) for name, host in hosts.items()
              for item in host["credentials"]["errors"]]
    if errors:
        out.append('<p class="warning">Files that could not be read (their end is not known):'
                   "</p><ul>" + "".join(f"<li>{e(name)}: {e(item['path'])}: {e(item['error'])}"
                                        "</li>" for name, item in errors) + "</ul>")
    out.append("</section>")
    return "".join(out)


def render_page(report, printable):
    inventory = report["inventory"]
    generated = report["generated"]
    when = generated.replace("T", " ").replace("Z", " UTC")
    summary = report["summary"]
    hosts = report["hosts"]
    ens = report["ens"]
    host_ids = {name: anchor("host-", index, name) for index, name in enumerate(hosts)}
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        '<link rel="icon" href="data:,">',
        f"<title>Audit report: {e(inventory)}, {e(when)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<header>",
        f"<h1>Audit report: inventory {e(inventory)}</h1>",
        f'<p class="lead">Generated {e(when)}. Every control of the catalogue checked live '
        "on each host it applies to, read-only.",
    ]
    if printable:
        out.append(' <a class="screen-only" href="index.html">Screen version</a> '
                   "(evidence collapsed).</p>")
    else:
        out.append(' <a class="screen-only" href="print.html">Printable version</a> '
                   "(every piece of evidence shown, a page per host).</p>")
    out.append("</header><main>")
    # Contents.
    out.append('<nav aria-label="Contents"><ul><li><a href="#run">Run</a></li>'
               '<li><a href="#summary">Summary per host</a></li>'
               '<li><a href="#ens">ENS measures</a></li><li><a href="#waivers">Waivers</a></li>'
               '<li><a href="#credentials">Certificates and keys</a></li>')
    for name in hosts:
        out.append(f'<li><a href="#{host_ids[name]}">Host {e(name)}</a></li>')
    out.append("</ul></nav>")
    # Run.
    out.append('<section id="run" aria-labelledby="run-h"><h2 id="run-h">Run</h2>')
    out.append(render_run(report["run"]) + "</section>")
    # Totals and hosts.
    verdict = (f"{summary[FAIL]} control check(s) FAIL." if summary[FAIL]
               else "No control fails.")
    out.append('<section id="summary" aria-labelledby="summary-h">'
               '<h2 id="summary-h">Summary</h2>'
               f'<p class="totals"><span class="verdict">{e(verdict)}</span>'
               f" {badge(PASS)} {summary[PASS]} {badge(FAIL)} {summary[FAIL]}"
               f" {badge(WAIVED)} {summary[WAIVED]} &middot; {summary['hosts']} host(s)</p>")
    out.append("<table><caption>Controls per host</caption><thead><tr>"
               '<th scope="col">Host</th><th scope="col">Groups</th>'
               '<th scope="col">Virtualization</th><th scope="col" class="n">PASS</th>'
               '<th scope="col" class="n">FAIL</th><th scope="col" class="n">WAIVED</th>'
               '<th scope="col">Result</th></tr></thead><tbody>')
    for name, host in hosts.items():
        host_counts = host["summary"]
        result = badge(FAIL if host_counts[FAIL] else PASS)
        if host["unreachable"]:
            result += " unreachable"
        virt = host["virtualization"] + (" (container)" if host["container"] else "")
        out.append(f'<tr><th scope="row"><a href="#{host_ids[name]}">{e(name)}</a></th>'
                   f"<td>{e(', '.join(host['groups']) or '-')}</td><td>{e(virt)}</td>"
                   f'<td class="n">{host_counts[PASS]}</td><td class="n">{host_counts[FAIL]}</td>'
                   f'<td class="n">{host_counts[WAIVED]}</td><td>{result}</td></tr>')
    out.append("</tbody></table></section>")
    # ENS.
    out.append('<section id="ens" aria-labelledby="ens-h"><h2 id="ens-h">ENS measures</h2>'
               '<p class="small">Measures of the Esquema Nacional de Seguridad (RD 311/2022, '
               "annex II) and the control checks that support them, over all hosts.</p>"
               "<table><caption>Control checks per ENS measure</caption><thead><tr>"
               '<th scope="col">Code</th><th scope="col">Measure</th>'
               '<th scope="col">Category</th><th scope="col" class="n">PASS</th>'
               '<th scope="col" class="n">FAIL</th><th scope="col" class="n">WAIVED</th>'
               '<th scope="col">Controls</th></tr></thead><tbody>')
    for code, measure in ens.items():
        name = e(measure["name"] or "(not named in the catalogue)")
        if measure["note"]:
            name += f'<br><span class="small">{e(measure["note"])}</span>'
        out.append(f'<tr><th scope="row">{e(code)}</th><td>{name}</td>'
                   f"<td>{e(measure['category'] or '-')}</td>"
                   f'<td class="n">{measure[PASS]}</td><td class="n">{measure[FAIL]}</td>'
                   f'<td class="n">{measure[WAIVED]}</td>'
                   f"<td>{e(', '.join(measure['controls']) or 'no control')}</td></tr>")
    out.append("</tbody></table></section>")
    # Waivers.
    out.append('<section id="waivers" aria-labelledby="waivers-h">'
               '<h2 id="waivers-h">Waivers</h2>')
    if report["waivers"]:
        out.append("<table><caption>Waivers of controls/waivers.yml and of the inventory"
                   "</caption><thead><tr><th scope=\"col\">Waiver</th>"
                   '<th scope="col">Control</th><th scope="col">Applies to</th>'
                   '<th scope="col">Scope</th><th scope="col">Reason</th>'
                   '<th scope="col">Approved by</th><th scope="col">Expires</th>'
                   '<th scope="col">State</th></tr></thead><tbody>')
        for waiver in report["waivers"]:
            where = []
            if waiver["hosts"] is not None:
                where.append("hosts or groups " + ", ".join(waiver["hosts"]))
            if waiver["applies_to"]:
                where.append(f"{waiver['applies_to']}s")
            where.append("matches: " + (", ".join(waiver["covers"]) or "no host of this audit"))
            state = waiver["state"]
            if waiver["state"] == "invalid":
                state = f"does not apply: {waiver['problem']}"
            elif waiver["state"] == "expired":
                state = waiver["problem"]
            out.append(f'<tr><th scope="row">{e(waiver["label"])}</th>'
                       f"<td>{e(waiver['control'])}</td><td>{e('; '.join(where))}</td>"
                       f"<td>{e(waiver['scope'])}</td><td>{e(waiver['reason'])}</td>"
                       f"<td>{e(waiver['approved_by'] or '-')}</td>"
                       f"<td>{e(waiver['expires'] or '-')}</td><td>{e(state)}</td></tr>")
        out.append("</tbody></table>")
    else:
        out.append("<p>No waiver.</p>")
    out.append("</section>")
    out.append(render_credentials(hosts))
    # Hosts.
    for name, host in hosts.items():
        host_id = host_ids[name]
        host_counts = host["summary"]
        out.append(f'<section class="host" id="{host_id}" aria-labelledby="{host_id}-h">'
                   f'<h2 id="{host_id}-h">Host {e(name)}</h2>')
        virt = host["virtualization"] + (", a container" if host["container"] else "")
        out.append(f'<p class="host-meta">Groups: {e(", ".join(host["groups"]) or "none")}. '
                   f"Virtualization: {e(virt)}. {badge(PASS)} {host_counts[PASS]} "
                   f"{badge(FAIL)} {host_counts[FAIL]} {badge(WAIVED)} {host_counts[WAIVED]}</p>")
        if host["unreachable"] or host["error"]:
            problem = "The host was unreachable" if host["unreachable"] else "The host failed"
            if host["error"]:
                problem += f": {host['error']}"
            out.append(f'<p class="warning">{e(problem)}. Its controls were not checked.</p>')
        if not host["controls"]:
            out.append("<p>No control of the catalogue applies to this host.</p>")
        for index, row in enumerate(host["controls"]):
            row_id = anchor(f"{host_id}-c", index, row["id"])
            status = row["status"]
            out.append(f'<article class="control {status.lower()}" id="{row_id}" '
                       f'aria-labelledby="{row_id}-h">'
                       f'<h3 id="{row_id}-h">{badge(status)} <span class="cid">{e(row["id"])}'
                       f"</span> {e(row['title'])}</h3>")
            check = ("not checked" if row["check"] is None
                     else f"the live check returned {row['check']}")
            out.append('<dl class="meta">'
                       f"<dt>CIS Debian 13</dt><dd>{render_cis(row)}</dd>"
                       f"<dt>ENS</dt><dd>{render_ens_list(row['ens'], ens)}</dd>"
                       f"<dt>Check</dt><dd>{e(check)}</dd></dl>")
            out.append(render_why(row))
            out.append(render_evidence(row, printable))
            out.append("</article>")
        out.append("</section>")
    out.append("</main></body></html>\n")
    return "\n".join(out)


def render(report):
    """File name -> text of each file of the report."""
    return {
        "index.html": render_page(report, printable=False),
        "print.html": render_page(report, printable=True),
        "report.json": as_json(report),
    }


def mode_of(path):
    try:
        return stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        return None


def pending(dest, contents):
    """Whether the folder needs making or its mode setting, and the files to write."""
    folder_mode = mode_of(dest)
    if folder_mode is not None and not os.path.isdir(dest):
        raise Malformed([f"dest {dest} exists and is not a folder."])
    files = []
    for name, data in contents.items():
        path = os.path.join(dest, name)
        try:
            with open(path, "rb") as handle:
                same = handle.read() == data
        except OSError:
            same = False
        if not same or os.path.islink(path) or mode_of(path) != 0o600:
            files.append(name)
    return folder_mode != 0o700, files


def main():
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "inventory": {"type": "str", "required": True},
            "catalogue": {"type": "path", "required": True},
            "waivers": {"type": "path", "required": True},
            "extra_waivers": {"type": "list", "elements": "dict", "default": []},
            "hosts": {"type": "dict", "required": True},
            "run": {"type": "dict", "default": {}},
            "now": {"type": "str"},
        },
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    try:
        now = parse_now(module.params["now"])
    except ValueError:
        module.fail_json(msg=f"now: {module.params['now']} is not an ISO 8601 time.")
    dest = module.params["dest"]
    try:
        report = build(module.params, now)
        contents = {name: text.encode("utf-8", "replace")
                    for name, text in render(report).items()}
        folder, files = pending(dest, contents)
    except Malformed as exc:
        count = len(exc.problems)
        msg = exc.problems[0] if count == 1 else (
            f"The audit report cannot be written, {count} problems: " + " ".join(exc.problems))
        module.fail_json(msg=msg, errors=exc.problems)
    for waiver in report["waivers"]:
        if waiver["state"] == "invalid":
            module.warn(f"{waiver['label']} ({waiver['control']}) does not apply: "
                        f"{waiver['problem']}.")
    result = {"changed": folder or bool(files), "summary": report["summary"],
              "failed_controls": failures(report), "files": [], "dest": dest}
    if not module.check_mode:
        try:
            private_makedirs(dest)
            if folder:
                os.chmod(dest, 0o700)
            for name in files:
                atomic_write(os.path.join(dest, name), contents[name])
        except OSError as exc:
            module.fail_json(msg=f"Cannot write the report in {dest}: {exc}")
        result["files"] = [os.path.join(dest, name) for name in FILES]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
