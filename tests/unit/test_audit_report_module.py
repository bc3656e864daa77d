"""Unit tests of the module teletreball_audit_report: the audit's report for the auditor.

Each test writes a small catalogue and waivers file in a temporary folder, gives the
module the outcomes teletreball_audit would have returned on a few hosts, and reads
the report it wrote (index.html, print.html, report.json) back from the disk."""

from __future__ import annotations

import html.parser
import json
import os
import stat

import pytest
import yaml
from module_runner import collect_warnings, load_library_module, refuse_commands, run_main

NOW = "2026-12-07T10:15:00Z"
HOSTILE = "<script>alert(1)</script>"

CATALOGUE = {
    "controls": [
        {"id": "BL-SSH-02", "title": "No direct root login over SSH", "role": "baseline",
         "tag": "bl-ssh-02", "cis": "5.1.20 Ensure sshd PermitRootLogin is disabled",
         "ens": ["op.acc.4", "op.acc.6"], "description": "PermitRootLogin no.",
         "tests": "x.py", "audit": ["all"]},
        {"id": "BL-SYS-01", "title": "Kernel hardening parameters", "role": "baseline",
         "tag": "bl-sys-01", "cis": "1.5.1 ASLR", "ens": ["op.exp.2"],
         "description": "sysctl.", "tests": "x.py", "audit": ["all"]},
        {"id": "BL-TIME-01", "title": "Time synchronised", "role": "baseline",
         "tag": "bl-time-01", "cis": "2.3.3.1 chrony", "ens": ["op.exp.8"],
         "description": "chrony.", "tests": "x.py"},  # no audit: placed by its role (all)
        {"id": "VPN-KEY-01", "title": "VPN keys are private", "role": "vpn",
         "tag": "vpn-key-01", "cis": None, "cis_note": "no CIS item for WireGuard",
         "ens": ["op.exp.11"], "description": "keys 0600.", "tests": "x.py"},
        {"id": "PKI-CA-01", "title": "The CA key is encrypted", "role": "pki",
         "tag": "pki-ca-01", "cis": "none (no CIS item)", "ens": ["op.exp.11"],
         "description": "PKCS#8.", "tests": "x.py", "audit": ["controller"]},
    ],
    "ens_measures": {
        "op.acc.4": {"name": "Proceso de gestión de derechos de acceso", "category": "básica"},
        "op.acc.6": {"name": "Mecanismo de autenticación (usuarios de la organización)",
                     "category": "media", "note": "MFA for remote access"},
        "op.exp.2": {"name": "Configuración de seguridad", "category": "básica"},
        "op.exp.11": {"name": "Protección de las claves criptográficas", "category": "alta"},
    },
}

WAIVER = {"control": "BL-SYS-01", "applies_to": "container", "reason": "/proc/sys is read-only",
          "approved_by": "CISO", "expires": "2027-06-30"}


@pytest.fixture(autouse=True)
def no_commands(monkeypatch):
    refuse_commands(monkeypatch)


def finding(ok, requirement, evidence="", waivable=False):
    return {"ok": ok, "requirement": requirement, "evidence": evidence, "waivable": waivable}


def outcome(control_id, status="PASS", findings=None, evidence=None, error=None):
    result = {
        "id": control_id, "status": status,
        "findings": findings if findings is not None else [
            finding(status == "PASS", f"{control_id} holds", f"{control_id} evidence")],
        "evidence": evidence if evidence is not None else [
            {"source": "$ sysctl -a", "rc": 0, "text": "kernel.randomize_va_space = 2"}],
    }
    if error:
        result["error"] = error
    return result


def sysctl_failed(waivable=True):
    return outcome("BL-SYS-01", "FAIL", [
        finding(True, "the boot configuration sets ASLR", "kernel.randomize_va_space = 2"),
        finding(False, "the live value is 2", "kernel.randomize_va_space = 0", waivable),
    ])


def host(groups, results, container=False, **extra):
    return dict({"groups": groups, "container": container, "virtualization": "kvm",
                 "results": results}, **extra)


def all_passing(*ids):
    return [outcome(control_id) for control_id in ids]


def default_hosts():
    return {
        "web1": host(["vdi_hosts"], all_passing("BL-SSH-02", "BL-TIME-01") + [sysctl_failed()],
                     container=True),
        "gw1": host(["vpn_gateways"],
                    all_passing("BL-SYS-01", "BL-TIME-01", "VPN-KEY-01")
                    + [outcome("BL-SSH-02", "FAIL", [
                        finding(False, "sshd refuses root", "permitrootlogin yes")])]),
        "controller": host(["controller"], all_passing("PKI-CA-01"),
                           virtualization="controller"),
    }


def write_inputs(tmp_path, catalogue=None, waivers=None):
    (tmp_path / "catalogue.yml").write_text(
        yaml.safe_dump(catalogue or CATALOGUE, allow_unicode=True), encoding="utf-8")
    (tmp_path / "waivers.yml").write_text(
        yaml.safe_dump({"waivers": [WAIVER] if waivers is None else waivers}), encoding="utf-8")


def report(tmp_path, capsys, check_mode=False, catalogue_data=None, waiver_list=None,
           **changes):
    write_inputs(tmp_path, catalogue_data, waiver_list)
    args = {
        "dest": str(tmp_path / "reports" / "lab" / "2026-12-07T101500Z"),
        "inventory": "lab",
        "catalogue": str(tmp_path / "catalogue.yml"),
        "waivers": str(tmp_path / "waivers.yml"),
        "hosts": default_hosts(),
        "run": {"started": "2026-12-07T10:10:00Z", "finished": NOW, "user": "auditor"},
        "now": NOW,
    }
    args.update(changes)
    return run_main(load_library_module("teletreball_audit_report"), args, capsys, check_mode)


def dest(tmp_path):
    return tmp_path / "reports" / "lab" / "2026-12-07T101500Z"


def written(tmp_path):
    return json.loads((dest(tmp_path) / "report.json").read_text(encoding="utf-8"))


def rows(data, host_name):
    return {row["id"]: row for row in data["hosts"][host_name]["controls"]}


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# --- statuses -----------------------------------------------------------------------


def test_report_of_pass_fail_and_waived_controls(tmp_path, capsys):
    result = report(tmp_path, capsys)
    assert result["rc"] == 0, result
    assert result["changed"] is True
    assert "failed" not in result  # Ansible would take a list of failures as the task's
    assert result["summary"] == {"PASS": 6, "FAIL": 1, "WAIVED": 1, "hosts": 3}
    assert result["failed_controls"] == [{"host": "gw1", "id": "BL-SSH-02",
                                 "title": "No direct root login over SSH",
                                 "reasons": ['sshd refuses root: "permitrootlogin yes"']}]
    data = written(tmp_path)
    web1, gw1 = rows(data, "web1"), rows(data, "gw1")
    assert web1["BL-SYS-01"]["status"] == "WAIVED"
    assert web1["BL-SYS-01"]["waiver"]["approved_by"] == "CISO"
    assert web1["BL-SYS-01"]["waiver"]["expires"] == "2027-06-30"
    assert gw1["BL-SSH-02"]["status"] == "FAIL" and gw1["BL-SSH-02"]["check"] == "FAIL"
    assert gw1["VPN-KEY-01"]["cis"] is None
    assert gw1["VPN-KEY-01"]["cis_note"] == "no CIS item for WireGuard"
    # The controller gets its own controls only; the others never the controller's.
    assert list(rows(data, "controller")) == ["PKI-CA-01"]
    assert "PKI-CA-01" not in gw1 and "VPN-KEY-01" not in web1
    page = (dest(tmp_path) / "index.html").read_text(encoding="utf-8")
    sections = [page.index(f">Host {name}</h2>") for name in ("gw1", "web1", "controller")]
    assert sections == sorted(sections)  # the hosts by name, the controller last
    assert result["files"] == [str(dest(tmp_path) / name)
                               for name in ("index.html", "print.html", "report.json")]


def test_report_json_counts_match_its_rows(tmp_path, capsys):
    result = report(tmp_path, capsys)
    data = written(tmp_path)
    assert data["schema"] == 1 and data["inventory"] == "lab"
    assert data["generated"] == "2026-12-07T10:15:00Z"
    assert data["run"]["user"] == "auditor"
    every = [row for host_data in data["hosts"].values() for row in host_data["controls"]]
    for status in ("PASS", "FAIL", "WAIVED"):
        assert data["summary"][status] == sum(row["status"] == status for row in every)
        for name, host_data in data["hosts"].items():
            assert host_data["summary"][status] == sum(
                row["status"] == status for row in host_data["controls"]), name
    assert data["summary"] == result["summary"]
    assert data["ens"]["op.acc.6"] == {
        "name": "Mecanismo de autenticación (usuarios de la organización)",
        "category": "media", "note": "MFA for remote access",
        "PASS": 1, "FAIL": 1, "WAIVED": 0, "controls": ["BL-SSH-02"]}
    assert data["ens"]["op.exp.2"]["WAIVED"] == 1
    assert data["ens"]["op.exp.8"]["name"] == ""  # no entry in ens_measures: still counted
    assert data["ens"]["op.exp.8"]["PASS"] == 2
    assert data["ens"]["op.exp.11"]["controls"] == ["VPN-KEY-01", "PKI-CA-01"]
    text = (dest(tmp_path) / "report.json").read_text(encoding="utf-8")
    assert "autenticación" in text  # UTF-8, not \\u escapes
    assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_controls_not_checked_fail(tmp_path, capsys):
    hosts = default_hosts()
    hosts["web1"]["results"] = [r for r in hosts["web1"]["results"] if r["id"] != "BL-TIME-01"]
    hosts["db1"] = host(["db"], [], unreachable=True, error="ssh: connect timed out")
    result = report(tmp_path, capsys, hosts=hosts)
    data = written(tmp_path)
    assert rows(data, "web1")["BL-TIME-01"]["status"] == "FAIL"
    assert rows(data, "web1")["BL-TIME-01"]["reasons"] == ["not checked"]
    db1 = rows(data, "db1")
    assert sorted(db1) == ["BL-SSH-02", "BL-SYS-01", "BL-TIME-01"]
    assert {row["reasons"][0] for row in db1.values()} == {
        "not checked: the host was unreachable (ssh: connect timed out)"}
    assert result["summary"]["FAIL"] == 1 + 1 + 3
    page = (dest(tmp_path) / "index.html").read_text(encoding="utf-8")
    assert "The host was unreachable: ssh: connect timed out" in page


def test_an_error_outcome_fails_and_shows_the_error(tmp_path, capsys):
    hosts = default_hosts()
    hosts["gw1"]["results"] = [r for r in hosts["gw1"]["results"] if r["id"] != "VPN-KEY-01"]
    hosts["gw1"]["results"].append(outcome("VPN-KEY-01", "ERROR", [], [],
                                           error="stat failed (exit 1): Permission denied"))
    result = report(tmp_path, capsys, hosts=hosts)
    row = rows(written(tmp_path), "gw1")["VPN-KEY-01"]
    assert row["status"] == "FAIL" and row["check"] == "ERROR"
    assert row["reasons"] == ["the check could not run: stat failed (exit 1): Permission denied"]
    assert {"host": "gw1", "id": "VPN-KEY-01", "title": "VPN keys are private",
            "reasons": row["reasons"]} in result["failed_controls"]
    page = (dest(tmp_path) / "index.html").read_text(encoding="utf-8")
    assert "the check could not run: stat failed (exit 1): Permission denied" in page


def test_a_waiver_is_not_needed_when_the_control_passes(tmp_path, capsys):
    hosts = default_hosts()
    hosts["web1"]["results"] = all_passing("BL-SSH-02", "BL-TIME-01", "BL-SYS-01")
    report(tmp_path, capsys, hosts=hosts)
    row = rows(written(tmp_path), "web1")["BL-SYS-01"]
    assert row["status"] == "PASS"
    assert row["notes"] == ["waiver not needed (waivers.yml waivers[0])"]


def test_an_expired_waiver_fails_the_control(tmp_path, capsys):
    waiver = dict(WAIVER, expires="2026-12-06")
    result = report(tmp_path, capsys, waiver_list=[waiver])
    row = rows(written(tmp_path), "web1")["BL-SYS-01"]
    assert row["status"] == "FAIL"
    assert row["reasons"] == ['the live value is 2: "kernel.randomize_va_space = 0"',
                              "waiver expired on 2026-12-06 (waivers.yml waivers[0])"]
    assert result["summary"]["WAIVED"] == 0
    # In force up to and including its date.
    report(tmp_path, capsys, waiver_list=[dict(WAIVER, expires="2026-12-07")])
    assert rows(written(tmp_path), "web1")["BL-SYS-01"]["status"] == "WAIVED"


def test_a_waiver_of_the_file_without_approval_does_not_apply(tmp_path, capsys, monkeypatch):
    warnings = collect_warnings(monkeypatch)
    waiver = {key: value for key, value in WAIVER.items() if key not in ("approved_by",
                                                                          "expires")}
    result = report(tmp_path, capsys, waiver_list=[waiver])
    assert result["rc"] == 0
    row = rows(written(tmp_path), "web1")["BL-SYS-01"]
    assert row["status"] == "FAIL"
    assert ("waiver waivers.yml waivers[0] does not apply: no approved_by, no expires date"
            in row["reasons"])
    assert warnings == ["waivers.yml waivers[0] (BL-SYS-01) does not apply: no approved_by, "
                        "no expires date."]
    assert written(tmp_path)["waivers"][0]["state"] == "invalid"


def test_a_container_waiver_does_not_apply_on_a_real_host(tmp_path, capsys):
    hosts = default_hosts()
    hosts["gw1"]["results"] = [r for r in hosts["gw1"]["results"] if r["id"] != "BL-SYS-01"]
    hosts["gw1"]["results"].append(sysctl_failed())
    report(tmp_path, capsys, hosts=hosts)
    data = written(tmp_path)
    assert rows(data, "web1")["BL-SYS-01"]["status"] == "WAIVED"
    row = rows(data, "gw1")["BL-SYS-01"]
    assert row["status"] == "FAIL"
    assert ("waiver waivers.yml waivers[0] not applied: the host is not a container"
            in row["reasons"])
    assert data["waivers"][0]["covers"] == ["web1"]


def test_a_waiver_covers_only_waivable_requirements_by_default(tmp_path, capsys):
    hosts = default_hosts()
    hosts["web1"]["results"][-1] = sysctl_failed(waivable=False)
    report(tmp_path, capsys, hosts=hosts)
    row = rows(written(tmp_path), "web1")["BL-SYS-01"]
    assert row["status"] == "FAIL"
    assert row["reasons"][-1] == ("waiver waivers.yml waivers[0] covers waivable requirements "
                                  "only, not: the live value is 2")


EXTRA = {"control": "BL-SSH-02", "reason": "the old backup tool logs in as root",
         "approved_by": "Head of IT, decree 2026/114", "expires": "2027-03-31"}


@pytest.mark.parametrize(("hosts", "scope", "status"), [
    (["vpn_gateways"], "control", "WAIVED"),      # by group
    (["gw1"], "control", "WAIVED"),               # by name
    (["web1", "vdi_hosts"], "control", "FAIL"),   # names other hosts only
    (["gw1"], "waivable", "FAIL"),                # sshd refuses root is not waivable
])
def test_inventory_waivers_by_group_or_host_and_scope(tmp_path, capsys, hosts, scope, status):
    extra = [dict(EXTRA, hosts=hosts, scope=scope)]
    result = report(tmp_path, capsys, extra_waivers=extra)
    row = rows(written(tmp_path), "gw1")["BL-SSH-02"]
    assert row["status"] == status
    if status == "WAIVED":
        assert row["waiver"]["label"] == "extra_waivers[0]"
        assert row["waiver"]["scope"] == "control"
        assert row["waiver"]["approved_by"] == "Head of IT, decree 2026/114"
        assert result["failed_controls"] == []
        page = (dest(tmp_path) / "index.html").read_text(encoding="utf-8")
        assert "the old backup tool logs in as root" in page
        assert "Head of IT, decree 2026/114" in page and "2027-03-31" in page
    else:
        assert result["failed_controls"][0]["id"] == "BL-SSH-02"


def test_an_inventory_waiver_scope_waivable_covers_a_waivable_failure(tmp_path, capsys):
    hosts = default_hosts()
    hosts["gw1"]["results"] = [r for r in hosts["gw1"]["results"] if r["id"] != "BL-SYS-01"]
    hosts["gw1"]["results"].append(sysctl_failed())
    extra = [{"control": "BL-SYS-01", "hosts": ["gw1"], "reason": "kernel from the vendor",
              "approved_by": "CISO", "expires": "2027-01-01"}]
    report(tmp_path, capsys, hosts=hosts, extra_waivers=extra)
    row = rows(written(tmp_path), "gw1")["BL-SYS-01"]
    assert row["status"] == "WAIVED"
    assert row["waiver"]["scope"] == "waivable"
    # The container waiver's not applying is noted beside it.
    assert row["notes"] == ["waiver waivers.yml waivers[0] not applied: the host is not a "
                            "container"]


@pytest.mark.parametrize(("change", "message"), [
    ({"approved_by": ""}, "extra_waivers[0].approved_by: missing or empty."),
    ({"approved_by": None}, "extra_waivers[0].approved_by: missing or empty."),
    ({"reason": "  "}, "extra_waivers[0].reason: missing or empty."),
    ({"expires": "31/03/2027"}, "extra_waivers[0].expires: '31/03/2027' is not a date "
                                "YYYY-MM-DD."),
    ({"expires": "2027-02-30"}, "extra_waivers[0].expires: '2027-02-30' is not a date "
                                "YYYY-MM-DD."),
    ({"expires": None}, "extra_waivers[0].expires: missing (a date YYYY-MM-DD)."),
    ({"control": "BL-NOPE-01"}, "extra_waivers[0].control: 'BL-NOPE-01' is not a control of "
                                "the catalogue."),
    ({"scope": "everything"}, "extra_waivers[0].scope: 'everything' is neither waivable nor "
                              "control."),
    ({"hosts": []}, "extra_waivers[0].hosts: must be a list naming at least one host or "
                    "group."),
    ({"hosts": "gw1"}, "extra_waivers[0].hosts: must be a list naming at least one host or "
                       "group."),
    ({"applies_to": "vm"}, "extra_waivers[0].applies_to: 'vm' is not container, its only "
                           "value."),
])
def test_a_malformed_inventory_waiver_fails_naming_its_field(tmp_path, capsys, change, message):
    extra = [dict(EXTRA, hosts=["gw1"])]
    extra[0].update(change)
    result = report(tmp_path, capsys, extra_waivers=extra)
    assert result["rc"] == 1 and result["failed"] is True
    assert result["msg"] == message
    assert not (tmp_path / "reports").exists()


def test_every_malformed_waiver_is_named(tmp_path, capsys):
    extra = [dict(EXTRA, hosts=["gw1"]), dict(EXTRA, hosts=["gw1"], expires="soon")]
    waivers = [dict(WAIVER, control="BL-GONE-01")]
    result = report(tmp_path, capsys, waiver_list=waivers, extra_waivers=extra)
    assert result["rc"] == 1
    assert result["errors"] == [
        "waivers.yml waivers[0].control: 'BL-GONE-01' is not a control of the catalogue.",
        "extra_waivers[1].expires: 'soon' is not a date YYYY-MM-DD."]
    assert result["msg"].startswith("The audit report cannot be written, 2 problems: ")


def test_yaml_dates_are_dates(tmp_path, capsys):
    # An unquoted date in YAML is a date, not a text.
    write_inputs(tmp_path)
    text = (tmp_path / "waivers.yml").read_text().replace("'2027-06-30'", "2027-06-30")
    (tmp_path / "waivers.yml").write_text(text)
    assert yaml.safe_load(text)["waivers"][0]["expires"].year == 2027
    args = {"dest": str(dest(tmp_path)), "inventory": "lab",
            "catalogue": str(tmp_path / "catalogue.yml"),
            "waivers": str(tmp_path / "waivers.yml"), "hosts": default_hosts(), "now": NOW}
    result = run_main(load_library_module("teletreball_audit_report"), args, capsys)
    assert result["summary"]["WAIVED"] == 1


def test_a_catalogue_without_ens_measures_or_audit_places_controls_by_role(tmp_path, capsys):
    catalogue = {"controls": [dict(control) for control in CATALOGUE["controls"]]}
    for control in catalogue["controls"]:
        control.pop("audit", None)
    result = report(tmp_path, capsys, catalogue_data=catalogue)
    assert result["rc"] == 0, result
    data = written(tmp_path)
    assert list(rows(data, "controller")) == ["PKI-CA-01"]
    assert sorted(rows(data, "gw1")) == ["BL-SSH-02", "BL-SYS-01", "BL-TIME-01", "VPN-KEY-01"]
    assert data["ens"]["op.acc.6"]["name"] == "" and data["ens"]["op.acc.6"]["FAIL"] == 1


def test_a_bad_now_or_unreadable_catalogue_fails(tmp_path, capsys):
    assert report(tmp_path, capsys, now="yesterday")["msg"] == (
        "now: yesterday is not an ISO 8601 time.")
    result = report(tmp_path, capsys, catalogue=str(tmp_path / "missing.yml"))
    assert result["rc"] == 1
    assert result["msg"] == (f"Cannot read the catalogue {tmp_path / 'missing.yml'}: "
                             "No such file or directory.")


def test_an_outcome_without_id_fails(tmp_path, capsys):
    hosts = default_hosts()
    hosts["gw1"]["results"].append({"status": "PASS"})
    result = report(tmp_path, capsys, hosts=hosts)
    assert result["msg"] == "hosts.gw1.results[4]: an outcome needs an id."


# --- the pages ----------------------------------------------------------------------


class Balance(html.parser.HTMLParser):
    """Fails on an end tag that closes nothing open (the pages close what they open)."""

    VOID = {"meta", "link", "br", "hr", "img", "input"}

    def __init__(self):
        super().__init__()
        self.stack = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def hostile_hosts():
    hosts = default_hosts()
    hosts["gw1"]["results"][-1] = outcome("BL-SSH-02", "FAIL", [
        finding(False, f"sshd refuses root {HOSTILE}", f'permitrootlogin "yes" & {HOSTILE}')],
        [{"source": f"$ sshd -T {HOSTILE}", "rc": 0, "text": f"banner {HOSTILE}\n'quoted'"}])
    hosts[f"evil{HOSTILE}"] = host([f"g{HOSTILE}"], [], unreachable=True, error=HOSTILE)
    hosts["gw1"]["credentials"] = {
        "certificates": [{"path": f"/etc/teletreball/pki/{HOSTILE}.crt", "kind": HOSTILE,
                          "subject": f"CN={HOSTILE}", "issuer": f"O={HOSTILE}",
                          "serial": HOSTILE, "not_after": "2027-01-16T10:15:00+00:00",
                          "internal": False}],
        "openpgp_keys": [{"path": HOSTILE, "fingerprint": HOSTILE, "uid": HOSTILE,
                          "not_after": None}],
        "keys": [{"path": HOSTILE, "kind": HOSTILE, "algorithm": HOSTILE, "public": HOSTILE,
                  "mode": HOSTILE, "modified": HOSTILE}],
        "errors": [{"path": HOSTILE, "error": HOSTILE}],
    }
    return hosts


def test_every_value_in_the_pages_is_escaped(tmp_path, capsys):
    extra = [dict(EXTRA, hosts=["vdi_hosts"], reason=f"because {HOSTILE}",
                  approved_by=HOSTILE)]
    result = report(tmp_path, capsys, hosts=hostile_hosts(), extra_waivers=extra,
                    inventory=f"lab{HOSTILE}", run={"user": HOSTILE, "command": ["a", HOSTILE]})
    assert result["rc"] == 0, result
    for name in ("index.html", "print.html"):
        page = (dest(tmp_path) / name).read_text(encoding="utf-8")
        assert "<script" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "permitrootlogin &quot;yes&quot; &amp; &lt;script&gt;" in page
        assert "&#x27;quoted&#x27;" in page
        parser = Balance()
        parser.feed(page)
        parser.close()
        assert parser.stack == [] and parser.scripts == 0
    data = written(tmp_path)
    assert rows(data, "gw1")["BL-SSH-02"]["findings"][0]["evidence"] == (
        f'permitrootlogin "yes" & {HOSTILE}')


def test_a_fail_shows_its_requirement_and_quoted_evidence(tmp_path, capsys):
    report(tmp_path, capsys)
    page = (dest(tmp_path) / "index.html").read_text(encoding="utf-8")
    assert "<p>Failed requirements</p><ul><li>sshd refuses root<br>Evidence: " \
           '<q class="ev">permitrootlogin yes</q></li></ul>' in page
    assert '<span class="badge fail">FAIL</span> <span class="cid">BL-SSH-02</span>' in page
    assert '<span class="badge waived">WAIVED</span>' in page
    assert '<span class="badge pass">PASS</span>' in page
    assert "5.1.20 Ensure sshd PermitRootLogin is disabled" in page
    assert "no CIS item for WireGuard" in page
    assert "<strong>op.acc.6</strong> Mecanismo de autenticación" in page
    assert "(category media)" in page
    assert "<pre>kernel.randomize_va_space = 2</pre>" in page
    assert '<a class="screen-only" href="print.html">' in page


def test_the_print_page_has_every_piece_of_evidence_open(tmp_path, capsys):
    report(tmp_path, capsys)
    screen = (dest(tmp_path) / "index.html").read_text(encoding="utf-8")
    printed = (dest(tmp_path) / "print.html").read_text(encoding="utf-8")
    assert screen.count("<details>") == 8 and "<details open" not in screen
    assert printed.count("<details open>") == 8 and "<details>" not in printed
    for page in (screen, printed):
        assert "@media print" in page and "size: A4" in page
        assert "break-before: page" in page
        assert "http://" not in page and "https://" not in page and "<script" not in page
    assert 'href="index.html"' in printed


# --- the files ----------------------------------------------------------------------


def test_the_folder_is_private_and_written_again_only_when_needed(tmp_path, capsys):
    report(tmp_path, capsys)
    folder = dest(tmp_path)
    assert mode(folder) == 0o700 and mode(folder.parent) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["index.html", "print.html",
                                                         "report.json"]
    assert all(mode(p) == 0o600 for p in folder.iterdir())
    again = report(tmp_path, capsys)
    assert again["changed"] is False
    os.chmod(folder / "print.html", 0o644)
    os.chmod(folder, 0o755)  # noqa: S103 - a loose mode the module must tighten
    fixed = report(tmp_path, capsys)
    assert fixed["changed"] is True
    assert mode(folder / "print.html") == 0o600 and mode(folder) == 0o700
    later = report(tmp_path, capsys, now="2026-12-07T11:00:00Z")
    assert later["changed"] is True
    assert written(tmp_path)["generated"] == "2026-12-07T11:00:00Z"
    assert sorted(p.name for p in folder.iterdir()) == ["index.html", "print.html",
                                                         "report.json"]  # no temp file left


def test_check_mode_writes_nothing(tmp_path, capsys):
    result = report(tmp_path, capsys, check_mode=True)
    assert result["rc"] == 0 and result["changed"] is True
    assert result["summary"] == {"PASS": 6, "FAIL": 1, "WAIVED": 1, "hosts": 3}
    assert result["failed_controls"][0]["id"] == "BL-SSH-02"
    assert result["files"] == []
    assert not (tmp_path / "reports").exists()


def test_a_file_in_place_of_the_folder_fails(tmp_path, capsys):
    (tmp_path / "reports").write_text("x")
    result = report(tmp_path, capsys, dest=str(tmp_path / "reports"))
    assert result["rc"] == 1
    assert result["msg"] == f"dest {tmp_path / 'reports'} exists and is not a folder."


# --- certificates and keys ----------------------------------------------------------


def credentials_of_hosts():
    """What teletreball_cert_expiry returned on gw1 and on the controller (NOW is
    2026-12-07T10:15:00Z)."""
    hosts = default_hosts()
    hosts["gw1"]["credentials"] = {
        "changed": False,
        "certificates": [
            {"path": "/etc/teletreball/pki/ca.crt", "kind": "CA certificate",
             "subject": "CN=teletreball internal CA", "issuer": "CN=teletreball internal CA",
             "serial": "1a2b", "not_before": "2026-01-01T00:00:00+00:00",
             "not_after": "2036-01-01T00:00:00+00:00", "days_left": 1, "internal": True},
            {"path": "/etc/teletreball/pki/vpn.crt", "kind": "certificate",
             "subject": "CN=vpn.example.org", "issuer": "CN=teletreball internal CA",
             "serial": "3c4d", "not_before": "2026-01-16T00:00:00+00:00",
             "not_after": "2027-01-16T10:15:00+00:00", "internal": True},
            {"path": "/etc/teletreball/pki/public.crt", "kind": "certificate",
             "subject": "CN=www.example.org", "issuer": "CN=Public ACME issuer",
             "serial": "5e6f", "not_after": "2026-12-05T10:15:00+00:00", "internal": False},
        ],
        "keys": [
            {"path": "/etc/wireguard/wg0.key", "kind": "WireGuard private key",
             "algorithm": "Curve25519", "public": "gW1pUbLiCkEy0000000000000000000000000000000=",
             "mode": "0600", "modified": "2026-03-01T08:00:00+00:00"},
            {"path": "/etc/ssh/ssh_host_ed25519_key", "kind": "SSH host key",
             "algorithm": "ssh-ed25519", "public": "SHA256:abcdefghijklmnop",
             "mode": "0600", "modified": "2026-03-01T08:00:00+00:00"},
        ],
        "errors": [{"path": "/etc/teletreball/pki/broken.crt", "error": "not a PEM certificate"}],
    }
    hosts["controller"]["credentials"] = {
        "certificates": [
            {"path": "/srv/credentials/pki/ca.crt", "kind": "CA certificate",
             "subject": "CN=teletreball internal CA", "issuer": "CN=teletreball internal CA",
             "serial": "1a2b", "not_after": "2036-01-01T00:00:00+00:00", "internal": True}],
        "openpgp_keys": [
            {"path": "/srv/credentials/package-repo/signing-key.pub.asc",
             "fingerprint": "0123456789ABCDEF0123456789ABCDEF01234567", "uid": "Council packages",
             "created": "2026-01-01T00:00:00+00:00", "not_after": "2031-01-01T00:00:00+00:00"},
            {"path": "/srv/credentials/other.asc", "fingerprint": "89AB", "uid": "Never ends",
             "created": "2026-01-01T00:00:00+00:00", "not_after": None}],
        "keys": [{"path": "/srv/credentials/pki/ca.key", "kind": "private key",
                  "algorithm": "", "public": "", "mode": "0600",
                  "modified": "2026-01-01T00:00:00+00:00"}],
        "errors": [],
    }
    return hosts


def test_the_report_lists_every_certificate_and_key_with_its_end(tmp_path, capsys):
    result = report(tmp_path, capsys, hosts=credentials_of_hosts())
    assert result["rc"] == 0, result
    data = written(tmp_path)
    gw1 = data["hosts"]["gw1"]["credentials"]
    # The days left at the report's time, whatever the host said.
    assert [(item["path"], item["days_left"]) for item in gw1["certificates"]] == [
        ("/etc/teletreball/pki/ca.crt", 3311), ("/etc/teletreball/pki/vpn.crt", 40),
        ("/etc/teletreball/pki/public.crt", -2)]
    assert gw1["certificates"][1]["subject"] == "CN=vpn.example.org"
    assert gw1["certificates"][1]["issuer"] == "CN=teletreball internal CA"
    assert gw1["certificates"][1]["serial"] == "3c4d" and gw1["certificates"][1]["internal"]
    assert [(item["kind"], item["expires"]) for item in gw1["keys"]] == [
        ("WireGuard private key", None), ("SSH host key", None)]
    assert gw1["errors"] == [{"path": "/etc/teletreball/pki/broken.crt",
                              "error": "not a PEM certificate"}]
    controller = data["hosts"]["controller"]["credentials"]
    assert [(item["fingerprint"], item["days_left"]) for item in controller["openpgp_keys"]] == [
        ("0123456789ABCDEF0123456789ABCDEF01234567", 1485), ("89AB", None)]
    assert controller["keys"][0]["path"] == "/srv/credentials/pki/ca.key"
    # A host without them has empty lists.
    assert data["hosts"]["web1"]["credentials"] == {
        "certificates": [], "openpgp_keys": [], "keys": [], "errors": []}
    for name in ("index.html", "print.html"):
        page = (dest(tmp_path) / name).read_text(encoding="utf-8")
        section = page[page.index('<section id="credentials"'):page.index('<section class="host"')]
        # The soonest end first: the ended certificate, the 40 days' one, the signing key,
        # the CAs, then the key that never ends.
        order = [section.index(text) for text in (
            "/etc/teletreball/pki/public.crt", "/etc/teletreball/pki/vpn.crt",
            "signing-key.pub.asc", "/etc/teletreball/pki/ca.crt", "/srv/credentials/other.asc")]
        assert order == sorted(order)
        assert '<td class="n soon">2 days ago</td>' in section
        assert '<td class="n soon">40</td>' in section
        assert "2027-01-16T10:15:00+00:00" in section and "CN=Public ACME issuer" in section
        assert "CN=teletreball internal CA (internal CA)" in section
        assert "fingerprint 0123456789ABCDEF0123456789ABCDEF01234567" in section
        keys = section[section.index("Keys (they do not expire)"):]
        assert keys.count("does not expire</td>") == 3
        assert "SHA256:abcdefghijklmnop" in keys and "/srv/credentials/pki/ca.key" in keys
        assert "broken.crt: not a PEM certificate" in section
        assert '<a href="#credentials">Certificates and keys</a>' in page


def test_credentials_that_are_not_a_mapping_are_refused(tmp_path, capsys):
    hosts = default_hosts()
    hosts["gw1"]["credentials"] = ["not", "a", "mapping"]
    result = report(tmp_path, capsys, hosts=hosts)
    assert result["rc"] == 1
    assert "hosts.gw1.credentials: must be what teletreball_cert_expiry returned." in result["msg"]
