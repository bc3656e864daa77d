"""Print what `make lab` deployed, how to reach it, and whether the run changed anything.

Usage: lab_report.py SUMMARY_JSON INVENTORY
SUMMARY_JSON is written by the teletreball_summary callback; the inventory gives
each host's groups and lab address.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys


def main(summary_path: str, inventory: str) -> int:
    with open(summary_path, encoding="utf-8") as handle:
        hosts = json.load(handle)["hosts"]
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

    print("\nteletreball lab")
    print(f"{'host':<12} {'address':<15} {'changed':>7} {'failed':>6}  groups")
    total_changed = 0
    for host, stats in sorted(hosts.items()):
        address = hostvars.get(host, {}).get("lab_container", {}).get("ip", "-")
        failed = stats["failures"] + stats["unreachable"]
        total_changed += stats["changed"]
        groups = ", ".join(sorted(groups_of.get(host, [])))
        print(f"{host:<12} {address:<15} {stats['changed']:>7} {failed:>6}  {groups}")
    print("\nShell on a host:     podman exec -it <host> bash")
    print("Run the stack again: make lab   (a converged lab reports 0 changes)")
    print("Remove the lab:      make lab-destroy")
    people = pathlib.Path(__file__).resolve().parents[1] / "credentials" / "lab" / "people"
    if people.is_dir():
        names = sorted(p.name for p in people.iterdir() if p.is_dir())
        print(f"Welcome packs:       credentials/lab/people/<username>/ ({', '.join(names)})")
        print("VPN profiles:        credentials/lab/people/<username>/vpn/<device>.conf "
              "(and .png QR codes);")
        print("                     on the gateway: podman exec tt-vpn wg show")
        desktops = sorted(h for h in hosts if "vdi_hosts" in groups_of.get(h, []))
        if desktops:
            print(f"Remote desktops:     {', '.join(desktops)} port 3389, reachable through "
                  "the VPN only;")
            print("                     each pack's desktop.md names the host; the password is "
                  "desktop-password")
            print("                     followed by the code of desktop-totp.png (an "
                  "authenticator app)")
        phones = sorted(h for h in hosts if "pbx_servers" in groups_of.get(h, []))
        if phones:
            print(f"Phones:              {', '.join(phones)} SIP over TLS port 5061 (SRTP), "
                  "through the VPN only;")
            print("                     each pack's phone.md, softphone-linphone.xml and "
                  "softphone-baresip.txt;")
            print("                     OAC agents: *61 log in, *62 log out, *63/*64 pause; "
                  "voicemail *98")
            print("                     on the PBX: podman exec tt-pbx asterisk -rx "
                  "'queue show oac'")
        chats = sorted(h for h in hosts if "conference_servers" in groups_of.get(h, []))
        if chats:
            print(f"Chat and rooms:      {', '.join(chats)} XMPP port 5222 through the VPN "
                  "only; web chat https://<domain>/")
            print("                     (HTTPS and TURN also from outside); each pack's chat.md "
                  "and chat-password;")
            print(f"                     on the server: podman exec {chats[0]} prosodyctl shell "
                  "user list <domain>")
    if total_changed == 0:
        print(f"\nNo changes on any of {len(hosts)} hosts: the lab matches the inventory.")
    else:
        print(f"\n{total_changed} change(s) applied:")
        for host, stats in sorted(hosts.items()):
            for task in stats["changed_tasks"]:
                print(f"  {host}: {task}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
