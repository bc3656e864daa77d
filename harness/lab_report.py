"""Print what `make lab` deployed, how to reach it, how long it took, and whether
the run changed anything.

Usage: lab_report.py SUMMARY_JSON INVENTORY
SUMMARY_JSON is written by the teletreball_summary callback for the run of
playbooks/site.yml; the inventory gives each host's groups and addresses, and
harness/lab-outside-hosts.yml the machines outside the council.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

# What each group's hosts offer, and where from.
SERVICES = {
    "vpn_gateways": "WireGuard VPN udp/51820 (from the Internet)",
    "conference_servers": "chat: XMPP 5222 (VPN), web chat and video rooms 443, TURN 3478/5349 "
    "(Internet); Janus's media udp 20000-20999 (VPN)",
    "vdi_hosts": "remote desktop: RDP 3389 with password + TOTP code (VPN)",
    "pbx_servers": "PBX: SIP over TLS 5061 + SRTP, OAC queue (VPN); trunk udp/5060 (carrier)",
    "package_repo_hosts": "the council's apt repository: http 80 (servers)",
    "log_hosts": "central logs: every host's logs over TLS 6514, one folder per host "
    "in /var/log/remote",
    "carriers": "carrier simulator: calls the PBX's numbers (outside the council)",
    "remote_workers": "a remote worker's laptop at home (outside the council)",
}


def outside_hosts() -> list[dict]:
    plays = yaml.safe_load((HERE / "lab-outside-hosts.yml").read_text(encoding="utf-8"))
    return plays[0]["vars"]["lab_outside_hosts"]


def addresses(lab_container: dict) -> str:
    short = {"teletreball-lab": "internal", "teletreball-internet": "Internet"}
    return ", ".join(f"{n['ip']} ({short.get(n['name'], n['name'])})"
                     for n in lab_container.get("networks", []))


def main(summary_path: str, inventory: str) -> int:
    with open(summary_path, encoding="utf-8") as handle:
        summary = json.load(handle)
    hosts = summary["hosts"]
    listing = json.loads(
        subprocess.run(
            ["ansible-inventory", "-i", inventory, "--list"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    groups_of: dict[str, list[str]] = {}
    for group, data in listing.items():
        for host in data.get("hosts", []) if isinstance(data, dict) else []:
            groups_of.setdefault(host, []).append(group)

    rows = []
    for host in sorted(h for h in hosts if h != "localhost"):
        services = [SERVICES[g] for g in sorted(groups_of.get(host, [])) if g in SERVICES]
        rows.append((host, addresses(hostvars.get(host, {}).get("lab_container", {})),
                     services or ["baseline only"], hosts[host]))
    for outside in outside_hosts():
        services = [SERVICES[g] for g in outside["groups"] if g in SERVICES]
        rows.append((outside["name"], addresses(outside["lab_container"]), services, None))

    print("\nteletreball lab: the council's hosts (site.yml) and the machines outside it")
    print(f"{'host':<11} {'changed':>7} {'failed':>6}  addresses / services")
    total_changed = 0
    for host, where, services, stats in rows:
        if stats is None:
            changed, failed = "-", "-"
        else:
            changed, failed = stats["changed"], stats["failures"] + stats["unreachable"]
            total_changed += stats["changed"]
        print(f"{host:<11} {changed:>7} {failed:>6}  {where}")
        for service in services:
            print(f"{'':<27}{service}")

    people = ROOT / "credentials" / "lab" / "people"
    print("\nWelcome packs:       credentials/lab/people/<username>/ (README.md first; "
          "passwords, VPN profiles and QR codes, 0600)")
    if people.is_dir():
        names = sorted(p.name for p in people.iterdir() if p.is_dir())
        print(f"                     {len(names)} people: {', '.join(names)}")
    print("                     handover/ in each: what IT gives the person as it is "
          "(welcome-{ca,es,en}.pdf/.html with the QR codes, vpn.md, council-ca.crt)")
    worker = next((o for o in outside_hosts() if "remote_workers" in o["groups"]), None)
    if worker:
        print(f"Remote worker:       podman exec -it {worker['name']} bash   "
              f"({worker['lab_remote_worker']}'s pack in /root/welcome-pack)")
        print("                     WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go "
              "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \\")
        print("                       wg-quick up /root/welcome-pack/vpn/laptop.conf")
        print("                     then RDP (desktop.md), the softphone "
              "(baresip_ctl.py --instance home ...), chat.md (the rooms' video button)")
    print("Shell on a host:     podman exec -it <host> bash")
    print("Run the stack again: make lab   (a converged lab reports 0 changes)")
    print("Audit the lab:       make audit   (every control checked live; the report is "
          "reports/lab/<date-time>/index.html)")
    print("Remove the lab:      make lab-destroy")

    role_seconds = summary.get("role_seconds", {})
    if role_seconds:
        print(f"\nsite.yml took {summary['seconds'] / 60:.1f} min; by role (all hosts at once):")
        for role, seconds in sorted(role_seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {role:<50} {seconds:7.0f} s")

    if total_changed == 0:
        print(f"\nNo changes on any of {len(hosts)} hosts: the lab matches the inventory.")
    elif total_changed > 40:
        print(f"\n{total_changed} changes applied (a first run: the log lists them); "
              "run `make lab` again: it must report none.")
    else:
        print(f"\n{total_changed} change(s) applied:")
        for host, stats in sorted(hosts.items()):
            for task in stats["changed_tasks"]:
                print(f"  {host}: {task}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
