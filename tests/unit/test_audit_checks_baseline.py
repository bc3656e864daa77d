"""The live checks of module_utils/teletreball_checks_baseline.py other than BL-SSH-*
(BL-FW, BL-SYS, BL-LOG, BL-NET-01, BL-TIME-01, BL-UPD-01, BL-ACC, BL-SUDO-01,
BL-BAN-01, BL-PKI-01) against a fake host: a dict of commands and their results and a
dict of files, shaped like what a converged lab host (tt-vdi1) returns."""

from __future__ import annotations

import json

from audit_fakes import ACCEPT, DROP, FakeProbe, audit, match, meta, payload
from audit_fakes import failed_if_any as failed
from module_runner import register_module_utils

register_module_utils()

from ansible.module_utils import teletreball_checks_baseline  # noqa: E402, F401

NFT_A = ("nft", "-a", "list", "table", "inet", "teletreball")
NFT_J = ("nft", "-j", "list", "table", "inet", "teletreball")
DROPIN = "/etc/nftables.d/50-vdi.nft"
DROPIN_FIND = ("find", "/etc/nftables.d", "-maxdepth", "1", "-name", "*.nft",
               "-printf", "%m %u %p\\n")


def check(control_id, probe, params=None):
    outcome = audit.evaluate(control_id, probe, params)
    assert outcome["status"] in (audit.PASS, audit.FAIL), outcome.get("error")
    return outcome


def evidence(outcome):
    return [finding["evidence"] for finding in audit.failed_findings(outcome)]


# --- the firewall ------------------------------------------------------------------

ICMP = ["destination-unreachable", "echo-request", "time-exceeded", "parameter-problem"]
ICMPV6 = ["destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem",
          "echo-request", "mld-listener-query", "nd-router-solicit", "nd-router-advert",
          "nd-neighbor-solicit", "nd-neighbor-advert"]
RDP_SOURCES = [f"10.89.64.{n}" for n in range(2, 15)]
RDP_RULE = ("vdi_input", 'ip saddr @vdi_rdp_sources tcp dport 3389 accept comment '
            '"remote desktop from the VPN"',
            [match(payload("ip", "saddr"), "@vdi_rdp_sources"),
             match(payload("tcp", "dport"), 3389), ACCEPT], "remote desktop from the VPN")


def lab_table():
    """tt-vdi1's table inet teletreball: chains (name, hook, policy), sets, rules."""
    chains = [("input", "input", "drop"), ("openings", None, None), ("services", None, None),
              ("forward", "forward", "drop"), ("forward_services", None, None),
              ("output", "output", "accept"), ("vdi_input", None, None)]
    sets = {
        "ssh_sources_v4": ("ipv4_addr", [{"prefix": {"addr": "10.89.10.0", "len": 24}},
                                         {"prefix": {"addr": "10.89.64.0", "len": 24}}]),
        "ssh_sources_v6": ("ipv6_addr", []),
        "vdi_rdp_sources": ("ipv4_addr", list(RDP_SOURCES)),
    }
    rules = [
        ("input", 'iif "lo" accept', [match(meta("iif"), "lo"), ACCEPT], None),
        ("input", 'iif != "lo" ip daddr 127.0.0.0/8 drop',
         [match(meta("iif"), "lo", "!="),
          match(payload("ip", "daddr"), {"prefix": {"addr": "127.0.0.0", "len": 8}}), DROP],
         None),
        ("input", 'iif != "lo" ip6 daddr ::1 drop',
         [match(meta("iif"), "lo", "!="), match(payload("ip6", "daddr"), "::1"), DROP], None),
        ("input", "ct state established,related accept",
         [match({"ct": {"key": "state"}}, ["established", "related"], "in"), ACCEPT], None),
        ("input", "icmpv6 type { " + ", ".join(ICMPV6) + " } accept",
         [match(payload("icmpv6", "type"), {"set": ICMPV6}), ACCEPT], None),
        ("input", "ct state invalid drop",
         [match({"ct": {"key": "state"}}, "invalid", "in"), DROP], None),
        ("input", "icmp type { " + ", ".join(ICMP) + " } accept",
         [match(payload("icmp", "type"), {"set": ICMP}), ACCEPT], None),
        ("input", 'tcp dport 22 ip saddr @ssh_sources_v4 accept comment "ssh"',
         [match(payload("tcp", "dport"), 22), match(payload("ip", "saddr"), "@ssh_sources_v4"),
          ACCEPT], "ssh"),
        ("input", 'tcp dport 22 ip6 saddr @ssh_sources_v6 accept comment "ssh"',
         [match(payload("tcp", "dport"), 22),
          match(payload("ip6", "saddr"), "@ssh_sources_v6"), ACCEPT], "ssh"),
        ("input", "jump openings", [{"jump": {"target": "openings"}}], None),
        ("input", "jump services", [{"jump": {"target": "services"}}], None),
        ("input", 'limit rate 10/minute burst 20 packets log prefix "tt-drop " level info',
         [{"limit": {"rate": 10, "burst": 20, "per": "minute"}},
          {"log": {"prefix": "tt-drop ", "level": "info"}}], None),
        ("services", "jump vdi_input", [{"jump": {"target": "vdi_input"}}], None),
        ("forward", "ct state established,related accept",
         [match({"ct": {"key": "state"}}, ["established", "related"], "in"), ACCEPT], None),
        ("forward", "jump forward_services", [{"jump": {"target": "forward_services"}}], None),
        RDP_RULE,
    ]
    return chains, sets, rules


def render_table(chains, sets, rules):
    """(nft -a list table, nft -j list table) of a table."""
    lines, objects, handle = ["table inet teletreball { # handle 8"], [], 100
    for name, (kind, elements) in sets.items():
        handle += 1
        lines.append(f"\tset {name} {{ # handle {handle}")
        lines.append(f"\t\ttype {kind}")
        lines.append("\t}")
        item = {"family": "inet", "name": name, "table": "teletreball", "type": kind,
                "handle": handle}
        if elements:
            item["elem"] = elements
        objects.append({"set": item})
    for name, hook, policy in chains:
        handle += 1
        lines.append(f"\tchain {name} {{ # handle {handle}")
        chain = {"family": "inet", "table": "teletreball", "name": name, "handle": handle}
        if hook:
            lines.append(f"\t\ttype filter hook {hook} priority filter; policy {policy};")
            chain.update({"type": "filter", "hook": hook, "prio": 0, "policy": policy})
        objects.append({"chain": chain})
        for rule_chain, text, expr, comment in rules:
            if rule_chain != name:
                continue
            handle += 1
            lines.append(f"\t\t{text} # handle {handle}")
            rule = {"family": "inet", "table": "teletreball", "chain": name, "handle": handle,
                    "expr": expr}
            if comment:
                rule["comment"] = comment
            objects.append({"rule": rule})
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n", json.dumps({"nftables": [{"metainfo": {}}] + objects})


VDI_DROPIN = """#
# Ansible managed
#
# Role vdi: RDP (tcp 3389) from the VPN only.

table inet teletreball {
\tset vdi_rdp_sources {
\t\ttype ipv4_addr
\t\tflags interval
\t\telements = { RDP_SOURCES }
\t}

\tchain vdi_input {
\t\tip saddr @vdi_rdp_sources tcp dport { 3389 } accept comment "remote desktop from the VPN"
\t}

\tchain services {
\t\tjump vdi_input
\t}
}
""".replace("RDP_SOURCES", ", ".join(RDP_SOURCES))


def firewall_host(chains=None, sets=None, rules=None, dropin=VDI_DROPIN):
    base_chains, base_sets, base_rules = lab_table()
    text, data = render_table(chains or base_chains, base_sets if sets is None else sets,
                              base_rules if rules is None else rules)
    probe = FakeProbe({NFT_A: text, NFT_J: data,
                       DROPIN_FIND: f"640 root {DROPIN}\n" if dropin else "",
                       ("/usr/local/sbin/teletreball-nft-check",): ""},
                      {DROPIN: dropin} if dropin else {})
    probe.active("nftables.service")
    probe.stat("/usr/local/sbin/teletreball-nft-check", "0755")
    probe.stat("/etc/nftables.conf", "0640")
    probe.stat("/etc/nftables.d", "0750", kind="directory")
    return probe


LAB_FW = {"ssh_allowed_networks": ["10.89.10.0/24", "10.89.64.0/24"], "firewall_openings": []}


def with_rule(chain, text, expr, comment=None, first=False):
    _, _, rules = lab_table()
    rule = (chain, text, expr, comment)
    return [rule] + rules if first else rules + [rule]


def test_the_converged_firewall_passes():
    for control_id in ("BL-FW-01", "BL-FW-02", "BL-FW-03"):
        outcome = check(control_id, firewall_host(), LAB_FW)
        assert outcome["status"] == audit.PASS, audit.explain(outcome)


def test_fw01_fails_without_the_table_or_with_an_accept_policy():
    probe = firewall_host()
    probe.commands[NFT_A] = audit.Result(1, "", "Error: No such file or directory")
    assert failed(check("BL-FW-01", probe, LAB_FW)) == ["table inet teletreball is loaded"]
    chains, _, _ = lab_table()
    chains[0] = ("input", "input", "accept")
    outcome = check("BL-FW-01", firewall_host(chains=chains), LAB_FW)
    assert failed(outcome) == ["chain input: hook input, policy drop"]
    assert evidence(outcome) == ["nft: chain input hook input policy accept"]


def test_fw01_fails_on_an_extra_accept_rule_in_chain_input():
    rules = with_rule("input", "tcp dport 8081 accept",
                      [match(payload("tcp", "dport"), 8081), ACCEPT], first=True)
    outcome = check("BL-FW-01", firewall_host(rules=rules), LAB_FW)
    assert failed(outcome) == ["chain input accepts only loopback, established, ICMP and SSH"]
    assert evidence(outcome) == ["nft: tcp dport 8081 accept"]


def test_fw01_fails_without_the_loopback_and_essential_icmp_rules():
    _, _, rules = lab_table()
    rules = [rule for rule in rules if not rule[1].startswith(("iif \"lo\"", "icmp type"))]
    outcome = check("BL-FW-01", firewall_host(rules=rules), LAB_FW)
    assert failed(outcome) == ["loopback accepted", "essential icmp types accepted"]


def test_fw02_fails_when_a_drop_in_opens_ssh_to_anybody():
    rules = with_rule("vdi_input", "tcp dport 22 accept",
                      [match(payload("tcp", "dport"), 22), ACCEPT])
    outcome = check("BL-FW-02", firewall_host(rules=rules), LAB_FW)
    assert failed(outcome) == ["tcp 22 admitted only from the declared networks"]
    assert evidence(outcome) == ["nft (chain vdi_input): tcp dport 22 accept [from any source]"]


def test_fw02_fails_on_a_rule_without_port_from_an_undeclared_network():
    rules = with_rule("vdi_input", "ip saddr 192.0.2.0/24 accept",
                      [match(payload("ip", "saddr"), {"prefix": {"addr": "192.0.2.0", "len": 24}}),
                       ACCEPT])
    outcome = check("BL-FW-02", firewall_host(rules=rules), LAB_FW)
    assert evidence(outcome) == [
        "nft (chain vdi_input): ip saddr 192.0.2.0/24 accept [from 192.0.2.0/24]"]


def test_fw02_ignores_other_ports_udp_and_established_traffic():
    rules = with_rule("vdi_input", "udp dport 22 accept",
                      [match(payload("udp", "dport"), 22), ACCEPT])
    rules.append(("vdi_input", "tcp dport { 80, 443 } accept",
                  [match(payload("tcp", "dport"), {"set": [80, 443]}), ACCEPT], None))
    assert not failed(check("BL-FW-02", firewall_host(rules=rules), LAB_FW))


def test_fw02_fails_when_the_ssh_sources_are_not_the_declared_ones():
    _, sets, _ = lab_table()
    everybody = {"prefix": {"addr": "0.0.0.0", "len": 0}}  # noqa: S104 - a set element
    sets["ssh_sources_v4"] = ("ipv4_addr", [everybody])
    outcome = check("BL-FW-02", firewall_host(sets=sets), LAB_FW)
    assert "the SSH source sets hold the declared networks 10.89.10.0/24, 10.89.64.0/24" in (
        failed(outcome))
    assert "tcp 22 admitted only from the declared networks" in failed(outcome)


def test_fw02_needs_the_declared_networks():
    outcome = audit.evaluate("BL-FW-02", firewall_host(), {})
    assert outcome["status"] == audit.ERROR
    assert "ssh_allowed_networks" in outcome["error"]


def test_fw03_fails_on_a_rule_of_no_drop_in_and_on_a_widened_set():
    rules = with_rule("vdi_input", 'tcp dport 5900 accept comment "by hand"',
                      [match(payload("tcp", "dport"), 5900), ACCEPT], "by hand")
    _, sets, _ = lab_table()
    sets["vdi_rdp_sources"] = ("ipv4_addr", RDP_SOURCES + [
        {"prefix": {"addr": "192.0.2.0", "len": 24}}])
    outcome = check("BL-FW-03", firewall_host(rules=rules, sets=sets), LAB_FW)
    assert failed(outcome) == ["every rule of the drop-in chains comes from a drop-in on disk",
                               "set vdi_rdp_sources holds only the drop-in's addresses"]
    assert evidence(outcome) == ['nft (chain vdi_input): tcp dport 5900 accept comment "by hand"',
                                 "nft: @vdi_rdp_sources also holds 192.0.2.0/24"]


def test_fw03_fails_when_a_drop_in_on_disk_is_not_loaded():
    _, _, rules = lab_table()
    rules = [rule for rule in rules if rule[0] != "vdi_input"]
    outcome = check("BL-FW-03", firewall_host(rules=rules), LAB_FW)
    assert failed(outcome) == ["every rule of the drop-ins on disk is loaded"]


def test_fw03_compares_chain_openings_with_the_declared_openings():
    network = {"prefix": {"addr": "10.89.10.0", "len": 25}}
    opening = ("openings", 'ip saddr 10.89.10.0/25 tcp dport 8080 accept comment "web"',
               [match(payload("ip", "saddr"), network), match(payload("tcp", "dport"), 8080),
                ACCEPT], "web")
    _, _, rules = lab_table()
    declared = dict(LAB_FW, firewall_openings=[
        {"name": "web", "proto": "tcp", "ports": [8080], "sources": ["10.89.10.0/25"]}])
    assert not failed(check("BL-FW-03", firewall_host(rules=rules + [opening]), declared))
    assert failed(check("BL-FW-03", firewall_host(rules=rules + [opening]), LAB_FW)) == [
        "chain openings holds the declared openings only"]
    assert failed(check("BL-FW-03", firewall_host(), declared)) == [
        "chain openings holds the declared openings only"]


def test_fw03_fails_on_a_writable_drop_in_and_a_refused_configuration():
    probe = firewall_host()
    probe.commands[DROPIN_FIND] = f"666 root {DROPIN}\n"
    probe.commands[("/usr/local/sbin/teletreball-nft-check",)] = audit.Result(
        1, "", "/etc/nftables.d/50-vdi.nft:3:1-5: Error: syntax error")
    assert failed(check("BL-FW-03", probe, LAB_FW)) == [
        "the configuration with its drop-ins passes nft -c",
        "each drop-in is root's, not writable by others"]


# --- sysctl ------------------------------------------------------------------------

def sysctl_host(boot, live):
    keys_file = "/etc/sysctl.d/90-teletreball-baseline.conf"
    cat = "# /usr/lib/sysctl.d/50-pid-max.conf\nkernel.pid_max = 4194304\n\n" \
          f"# {keys_file}\n# /etc/sysctl.d and /usr/lib/sysctl.d in name order\n" + "".join(
              f"{key} = {value}\n" for key, value in boot.items())
    probe = FakeProbe({("systemd-analyze", "cat-config", "sysctl.d"): cat},
                      {keys_file: cat})
    return probe, live


def run_sysctl(control_id, boot, live, params=None):
    probe, values = sysctl_host(boot, live)
    checks = teletreball_checks_baseline
    wanted = {"BL-SYS-01": checks.SYSCTL_KERNEL, "BL-SYS-02": checks.SYSCTL_NETWORK}.get(
        control_id, dict.fromkeys(checks.SYSCTL_FORWARDING))
    probe.commands[("sysctl", *wanted)] = audit.Result(
        0, "".join(f"{key} = {value}\n" for key, value in values.items()), "")
    return check(control_id, probe, params)


def test_sysctl_passes_at_boot_and_live_and_fails_on_a_later_file():
    checks = teletreball_checks_baseline
    for control_id, wanted in (("BL-SYS-01", checks.SYSCTL_KERNEL),
                               ("BL-SYS-02", checks.SYSCTL_NETWORK)):
        assert run_sysctl(control_id, wanted, wanted)["status"] == audit.PASS
    weak = dict(checks.SYSCTL_NETWORK, **{"net.ipv4.conf.all.rp_filter": "0"})
    outcome = run_sysctl("BL-SYS-02", weak, checks.SYSCTL_NETWORK)
    assert failed(outcome) == ["net.ipv4.conf.all.rp_filter = 1 at boot"]
    assert evidence(outcome) == [
        "net.ipv4.conf.all.rp_filter = 0 (/etc/sysctl.d/90-teletreball-baseline.conf)"]
    assert not audit.only_waivable_failed(outcome)


def test_sysctl_live_values_are_waivable():
    checks = teletreball_checks_baseline
    live = dict(checks.SYSCTL_KERNEL, **{"kernel.kptr_restrict": "0"})
    del live["kernel.yama.ptrace_scope"]
    outcome = run_sysctl("BL-SYS-01", checks.SYSCTL_KERNEL, live)
    assert failed(outcome) == ["kernel.kptr_restrict = 2 live", "kernel.yama.ptrace_scope = 1 live"]
    assert audit.only_waivable_failed(outcome)


def test_forwarding_follows_routes_traffic():
    on = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
    off = {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"}
    assert run_sysctl("BL-SYS-03", on, on, {"routes_traffic": True})["status"] == audit.PASS
    assert run_sysctl("BL-SYS-03", off, off, {"routes_traffic": False})["status"] == audit.PASS
    assert failed(run_sysctl("BL-SYS-03", on, off, {})) == [
        "net.ipv4.ip_forward = 0 at boot", "net.ipv6.conf.all.forwarding = 0 at boot"]


# --- auditd and the journal --------------------------------------------------------

RULES_FILE = "/etc/audit/rules.d/50-teletreball-baseline.rules"
WATCHES = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/security/opasswd",
           "/etc/nsswitch.conf", "/etc/pam.conf", "/etc/pam.d/", "/etc/sudoers",
           "/etc/sudoers.d/", "/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/",
           "/etc/login.defs", "/var/log/lastlog", "/var/log/sudo.log"]
PROGRAMS = ["/usr/bin/sudo", "/usr/bin/passwd", "/usr/bin/chage"]


def audit_rules(watches=WATCHES, programs=PROGRAMS):
    return "".join(f"-w {path} -p wa -k identity\n" for path in watches) + "".join(
        f"-a always,exit -F path={program} -F perm=x -F auid>=1000 -F auid!=unset "
        "-k privileged\n" for program in programs)


def audit_host(rules=None, loaded=None, setuid=PROGRAMS):
    probe = FakeProbe({
        ("find", "/etc/audit/rules.d", "-maxdepth", "1", "-name", "*.rules"):
            f"/etc/audit/rules.d/audit.rules\n{RULES_FILE}\n",
        ("find", "/", "-xdev", "-type", "f", "-perm", "/6000"): "\n".join(setuid) + "\n",
        ("auditctl", "-l"): loaded if loaded is not None else audit.Result(
            255, "", "Error sending rule list data request (Operation not permitted)"),
    }, {RULES_FILE: audit_rules() if rules is None else rules,
        "/etc/audit/rules.d/audit.rules": "-D\n-b 8192\n"})
    return probe


def test_log01_passes_on_the_files_and_waives_the_kernel_in_a_container():
    outcome = check("BL-LOG-01", audit_host())
    assert failed(outcome) == ["the audit rules are loaded in the kernel"]
    assert audit.only_waivable_failed(outcome)


def test_log01_reads_the_rules_as_auditctl_lists_them():
    loaded = "".join(f"-w {path.rstrip('/')} -p wa -k identity\n" for path in WATCHES
                     if not path.endswith("/")) + "".join(
        f"-a always,exit -F dir={path} -F perm=wa -k identity\n" for path in WATCHES
        if path.endswith("/")) + "".join(
        f"-a always,exit -S all -F path={program} -F perm=x -F auid>=1000 -F auid!=-1 "
        "-F key=privileged\n" for program in PROGRAMS)
    assert check("BL-LOG-01", audit_host(loaded=loaded))["status"] == audit.PASS
    outcome = check("BL-LOG-01", audit_host(loaded="-w /etc/passwd -p wa -k identity\n"))
    assert audit.only_waivable_failed(outcome)
    assert len(failed(outcome)) == 2


def test_log01_fails_on_a_missing_watch_or_an_unaudited_setuid_program():
    rules = audit_rules([path for path in WATCHES if path != "/etc/sudoers.d/"])
    outcome = check("BL-LOG-01", audit_host(rules=rules, setuid=PROGRAMS + ["/usr/bin/newgrp"]))
    assert not audit.only_waivable_failed(outcome)
    assert "rules.d (loaded at boot): not watched: /etc/sudoers.d" in evidence(outcome)
    assert "rules.d (loaded at boot): no rule for /usr/bin/newgrp" in evidence(outcome)


AUDITD_CONF = """#
# auditd.conf
local_events = yes
max_log_file = 16
num_logs = 5
max_log_file_action = keep_logs
space_left = 15%
space_left_action = syslog
action_mail_acct = root
admin_space_left = 5%
admin_space_left_action = suspend
disk_full_action = suspend
disk_error_action = syslog
"""


def auditd_host(conf=AUDITD_CONF, state="inactive"):
    probe = FakeProbe(files={"/etc/audit/auditd.conf": conf})
    probe.active("auditd.service", state)
    probe.stat("/etc/audit/auditd.conf", "0640")
    return probe


def test_log02_keeps_logs_and_waives_a_stopped_auditd():
    outcome = check("BL-LOG-02", auditd_host(), {"audit_max_log_file": 16})
    assert failed(outcome) == ["auditd runs"]
    assert audit.only_waivable_failed(outcome)
    assert check("BL-LOG-02", auditd_host(state="active"),
                 {"audit_max_log_file": "16"})["status"] == audit.PASS


def test_log02_fails_when_logs_rotate_away():
    conf = AUDITD_CONF.replace("keep_logs", "rotate")
    outcome = check("BL-LOG-02", auditd_host(conf, "active"), {"audit_max_log_file": 16})
    assert evidence(outcome) == ["auditd.conf: max_log_file_action = rotate"]


def test_log04_states_each_setting_once():
    assert check("BL-LOG-04", auditd_host())["status"] == audit.PASS
    conf = AUDITD_CONF + "disk_full_action = halt\n"
    outcome = check("BL-LOG-04", auditd_host(conf))
    assert evidence(outcome) == ["auditd.conf: disk_full_action = suspend / halt"]
    params = {"audit_settings": {"disk_full_action": "halt"}}
    assert failed(check("BL-LOG-04", auditd_host(), params)) == [
        "auditd.conf disk_full_action = halt (once)"]


def test_log04_fails_when_the_warning_comes_after_the_suspend():
    conf = AUDITD_CONF.replace("space_left = 15%", "space_left = 2%")
    outcome = check("BL-LOG-04", auditd_host(conf), {"audit_settings": {"space_left": "2%"}})
    assert failed(outcome) == ["auditd warns (space_left) before it suspends (admin_space_left)"]


JOURNALD = """# /etc/systemd/journald.conf
[Journal]
#Storage=auto

# /etc/systemd/journald.conf.d/60-teletreball-baseline.conf
[Journal]
Storage=persistent
Compress=yes
MaxRetentionSec=180day
SystemMaxUse=2G
"""


def journal_host(conf=JOURNALD):
    probe = FakeProbe({
        ("systemd-analyze", "cat-config", "systemd/journald.conf"): conf,
        ("find", "/var/log/journal", "-name", "system.journal"):
            "/var/log/journal/53bc71a6/system.journal\n",
    })
    probe.active("systemd-journald.service")
    return probe


def test_log03_persistent_journal_with_its_retention():
    params = {"journald_retention_days": 180, "journald_system_max_use": "2G"}
    assert check("BL-LOG-03", journal_host(), params)["status"] == audit.PASS
    assert failed(check("BL-LOG-03", journal_host(), {"journald_retention_days": 120})) == [
        "journald keeps entries 120 days (MaxRetentionSec)"]
    later = JOURNALD + "\n# /etc/systemd/journald.conf.d/99-x.conf\n[Journal]\n" \
                       "Storage=volatile\nMaxRetentionSec=1week\n"
    assert failed(check("BL-LOG-03", journal_host(later))) == [
        "journald Storage=persistent", "journald keeps entries at least 90 days (MaxRetentionSec)"]


# --- routes, time, updates ---------------------------------------------------------

ROUTES_UNIT = "/etc/systemd/system/teletreball-routes.service"
UNIT_TEXT = """[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/ip route replace 10.89.64.0/24 via 10.89.10.11 proto 241
ExecStop=/usr/sbin/ip route flush proto 241
"""
ROUTES = {"routes": [{"to": "10.89.64.0/24", "via": "10.89.10.11"}]}


def routes_host(live="10.89.64.0/24 via 10.89.10.11 dev eth0 \n", unit=UNIT_TEXT):
    probe = FakeProbe({("ip", "-4", "route", "show", "proto", "241"): live},
                      {ROUTES_UNIT: unit})
    probe.active("teletreball-routes.service")
    return probe


def test_net01_declared_routes_set_at_boot_and_live():
    assert check("BL-NET-01", routes_host(), ROUTES)["status"] == audit.PASS
    empty = UNIT_TEXT.replace(
        "ExecStart=/usr/sbin/ip route replace 10.89.64.0/24 via 10.89.10.11 proto 241",
        "ExecStart=/bin/true")
    assert check("BL-NET-01", routes_host("", empty), {"routes": []})["status"] == audit.PASS


def test_net01_fails_on_a_missing_or_an_undeclared_route():
    assert failed(check("BL-NET-01", routes_host(""), ROUTES)) == [
        "route to 10.89.64.0/24 via 10.89.10.11"]
    extra = "10.89.64.0/24 via 10.89.10.11 dev eth0 \n192.0.2.0/24 via 10.89.10.11 dev eth0 \n"
    outcome = check("BL-NET-01", routes_host(extra), ROUTES)
    assert evidence(outcome) == ["ip route: 192.0.2.0/24 via 10.89.10.11"]


CHRONY_PARSED = """server hora.roa.es iburst
server minuto.roa.es iburst
keyfile /etc/chrony/chrony.keys
driftfile /var/lib/chrony/chrony.drift
"""
NTP = {"ntp_servers": ["hora.roa.es", "minuto.roa.es"]}


def time_host(parsed=CHRONY_PARSED, sources="", cmdline="/usr/sbin/chronyd\0-F\0001\0"):
    probe = FakeProbe({
        ("chronyd", "-p", "-f", "/etc/chrony/chrony.conf"): parsed,
        ("systemctl", "show", "--property", "MainPID", "--value", "chrony.service"): "1622\n",
        ("chronyc", "-c", "-N", "sources"): sources,
    }, {"/proc/1622/cmdline": cmdline})
    probe.active("chrony.service")
    return probe


def test_time01_declared_servers_only():
    sources = "^,*,hora.roa.es,1,6,377,12,0.0001,0.0001,0.01\n"
    assert check("BL-TIME-01", time_host(sources=sources), NTP)["status"] == audit.PASS
    outcome = check("BL-TIME-01", time_host(CHRONY_PARSED + "pool 2.debian.pool.ntp.org iburst\n"),
                    NTP)
    assert failed(outcome) == ["no pool, peer or source folder"]
    rogue = "^,*,192.0.2.123,1,6,377,12,0.0001,0.0001,0.01\n"
    assert failed(check("BL-TIME-01", time_host(sources=rogue), NTP)) == [
        "chronyd uses no undeclared source"]


def test_time01_chronyd_without_the_clock_is_waivable():
    outcome = check("BL-TIME-01", time_host(cmdline="/usr/sbin/chronyd\0-F\0001\0-x\0"), NTP)
    assert failed(outcome) == ["chronyd may set the system clock (no -x)"]
    assert audit.only_waivable_failed(outcome)


APT_DUMP = """APT "";
APT::Periodic "";
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
Unattended-Upgrade "";
Unattended-Upgrade::Origins-Pattern "";
Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";
Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename},label=Debian-Security";
Unattended-Upgrade::Automatic-Reboot "false";
"""  # noqa: E501 - apt-config's own lines


def updates_host(dump=APT_DUMP):
    probe = FakeProbe({
        ("dpkg-query", "--show", "--showformat", "${Status}", "unattended-upgrades"):
            "install ok installed",
        ("apt-config", "dump"): dump,
    })
    probe.active("apt-daily.timer")
    probe.active("apt-daily-upgrade.timer")
    return probe


def test_upd01_security_archive_daily():
    assert check("BL-UPD-01", updates_host(), {"unattended_reboot": False})["status"] == (
        audit.PASS)
    wider = APT_DUMP + ('Unattended-Upgrade::Origins-Pattern:: '
                        '"origin=Debian,codename=${distro_codename}";\n')
    assert failed(check("BL-UPD-01", updates_host(wider))) == [
        "unattended-upgrades installs from the Debian security archive only"]
    off = APT_DUMP.replace('Unattended-Upgrade "1"', 'Unattended-Upgrade "0"')
    assert failed(check("BL-UPD-01", updates_host(off))) == [
        "APT::Periodic::Unattended-Upgrade every day"]
    assert failed(check("BL-UPD-01", updates_host(), {"unattended_reboot": True})) == [
        "automatic reboot true"]


# --- accounts, sudo, banner, CA certificates --------------------------------------

LOGIN_DEFS = """# /etc/login.defs
#PASS_MAX_DAYS\t99999
PASS_MAX_DAYS\t365
PASS_MIN_DAYS\t1
PASS_WARN_AGE\t7
UMASK\t027
USERGROUPS_ENAB yes
"""
PAM = "session optional\t\t\tpam_umask.so nousergroups\nsession required pam_unix.so\n"
TMOUT = """if [ "${TMOUT:-}" != "900" ]; then
    TMOUT=900
fi
readonly TMOUT
export TMOUT
"""


def accounts_host(login_defs=LOGIN_DEFS, pam=PAM, tmout=TMOUT):
    probe = FakeProbe(files={"/etc/login.defs": login_defs,
                             "/etc/pam.d/common-session": pam,
                             "/etc/pam.d/common-session-noninteractive": pam,
                             "/etc/profile.d/teletreball-tmout.sh": tmout})
    probe.stat("/etc/profile.d/teletreball-tmout.sh", "0644")
    return probe


def test_acc_checks_pass_on_the_converged_files():
    params = {"password_max_days": 365, "password_min_days": 1, "password_warn_age": 7,
              "umask": "027", "shell_timeout": 900}
    for control_id in ("BL-ACC-01", "BL-ACC-02", "BL-ACC-03"):
        outcome = check(control_id, accounts_host(), params)
        assert outcome["status"] == audit.PASS, audit.explain(outcome)


def test_acc01_fails_on_long_password_lifetimes():
    outcome = check("BL-ACC-01", accounts_host(LOGIN_DEFS + "PASS_MAX_DAYS\t99999\n"))
    assert evidence(outcome) == ["PASS_MAX_DAYS 99999"]


def test_acc02_fails_on_a_wide_umask_or_pam_umask_without_nousergroups():
    wide = LOGIN_DEFS.replace("UMASK\t027", "UMASK\t022")
    assert failed(check("BL-ACC-02", accounts_host(wide))) == [
        "login.defs UMASK 027 (027 or stricter)"]
    outcome = check("BL-ACC-02", accounts_host(pam=PAM.replace(" nousergroups", "")))
    assert len(failed(outcome)) == 2


def test_acc03_fails_on_a_timeout_users_may_unset():
    outcome = check("BL-ACC-03", accounts_host(tmout=TMOUT.replace("readonly TMOUT\n", "")),
                    {"shell_timeout": 900})
    assert failed(outcome) == ["TMOUT is read-only and exported"]
    assert failed(check("BL-ACC-03", accounts_host(tmout=TMOUT.replace("900", "3600")))) == [
        "TMOUT=at most 900 for every login shell"]


SUDOERS = 'Defaults\tenv_reset\nDefaults\tuse_pty\n@includedir /etc/sudoers.d\n'
SUDOERS_BASELINE = 'Defaults use_pty\nDefaults logfile="/var/log/sudo.log"\n'
SUDOERS_FIND = ("find", "/etc/sudoers.d", "-maxdepth", "1", "-type", "f",
                "!", "-name", "*~", "!", "-name", "*.*")


def sudo_host(extra=None):
    files = {"/etc/sudoers": SUDOERS, "/etc/sudoers.d/README": "# no Defaults here\n",
             "/etc/sudoers.d/teletreball-baseline": SUDOERS_BASELINE}
    files.update(extra or {})
    listed = sorted(path for path in files if path.startswith("/etc/sudoers.d/"))
    probe = FakeProbe({("visudo", "-c"): "/etc/sudoers: parsed OK\n",
                       SUDOERS_FIND: "\n".join(listed) + "\n"}, files)
    probe.stat("/etc/sudoers.d/teletreball-baseline", "0440")
    return probe


def test_sudo01_pty_and_log_file():
    params = {"sudo_logfile": "/var/log/sudo.log"}
    assert check("BL-SUDO-01", sudo_host(), params)["status"] == audit.PASS
    outcome = check("BL-SUDO-01", sudo_host({"/etc/sudoers.d/zz-local": "Defaults !use_pty\n"}))
    assert evidence(outcome) == ["/etc/sudoers.d/zz-local: Defaults !use_pty"]
    scoped = sudo_host({"/etc/sudoers.d/zz-local": "Defaults:backup !use_pty\n"})
    assert failed(check("BL-SUDO-01", scoped)) == [
        "sudo runs commands in a pseudo-terminal (use_pty)"]
    assert failed(check("BL-SUDO-01", sudo_host(), {"sudo_logfile": "/var/log/other.log"})) == [
        "sudo logs every command to /var/log/other.log"]


BANNER = "AVÍS LEGAL\nAquest sistema és de l'Ajuntament.\n"


def banner_host(issue=BANNER, banner="/etc/issue.net"):
    probe = FakeProbe({("/usr/sbin/sshd", "-T", "-C", "user=root,host=audit,addr=192.0.2.1"):
                       f"port 22\nbanner {banner}\n"},
                      {"/etc/issue": issue, "/etc/issue.net": BANNER})
    return probe


def test_ban01_legal_notice_before_login():
    assert check("BL-BAN-01", banner_host(), {"login_banner": BANNER})["status"] == audit.PASS
    outcome = check("BL-BAN-01", banner_host("Debian GNU/Linux 13 \\n \\l\n\n"),
                    {"login_banner": BANNER})
    assert failed(outcome) == ["/etc/issue is the legal notice",
                               "/etc/issue shows no system information or agetty escapes"]
    assert failed(check("BL-BAN-01", banner_host(banner="none"))) == [
        "sshd shows /etc/issue.net before authentication"]


CA_DIR = "/usr/local/share/ca-certificates/teletreball"


def ca_host(files, verified=True):
    commands = {("find", CA_DIR, "-maxdepth", "1", "-type", "f"):
                "".join(f"{CA_DIR}/{name}\n" for name in files)}
    for name in files:
        for option, store in (("-CAfile", "/etc/ssl/certs/ca-certificates.crt"),
                              ("-CApath", "/etc/ssl/certs")):
            commands[("openssl", "verify", option, store, f"{CA_DIR}/{name}")] = (
                audit.Result(0, f"{CA_DIR}/{name}: OK\n", "") if verified else
                audit.Result(2, "", f"error 20 at 0 depth lookup: unable to get local issuer "
                                    f"certificate\nerror {CA_DIR}/{name}: verification failed"))
    return FakeProbe(commands)


def test_pki01_declared_certificates_trusted_and_no_others():
    params = {"extra_ca_certificates": ["proxy-ca"]}
    assert check("BL-PKI-01", ca_host(["proxy-ca.crt"]), params)["status"] == audit.PASS
    assert check("BL-PKI-01", ca_host([]), {})["status"] == audit.PASS
    assert failed(check("BL-PKI-01", ca_host(["proxy-ca.crt", "rogue.crt"]), params)) == [
        f"{CA_DIR} holds the declared certificates only"]
    assert failed(check("BL-PKI-01", ca_host(["proxy-ca.crt"], verified=False), params)) == [
        "proxy-ca.crt is trusted through the system bundle",
        "proxy-ca.crt is trusted through the hashed folder"]
