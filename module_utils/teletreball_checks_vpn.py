# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live checks of the VPN gateway (VPN-*): see module_utils/teletreball_audit.py.

The readers of the firewall are in teletreball_audit_parsers.py (shared with VDI). No
command whose output holds a private or preshared key is quoted as evidence:
the peers are read with ``wg show <interface> allowed-ips`` and wg0.conf is read
without evidence (only its comment, PublicKey and AllowedIPs lines are quoted).

Parameters read from ``ctx.params`` (roles/vpn/tasks/audit.yml passes them; the
devices and access rules come from the staff directory as the role derives them):
  vpn_interface      the WireGuard interface (wg0)
  vpn_listen_port    its UDP port
  vpn_pool           the VPN pool (CIDR)
  vpn_access_rules   the role's _vpn_access_rules: [{service, sources, destinations, tcp, udp}]
  vpn_client_dns     DNS servers the devices may reach
  vpn_devices        the role's _vpn_devices: [{username, device, address}] of present people
  vpn_absent_people  usernames the directory marks absent
"""

from __future__ import annotations

import ipaddress
import re

from ansible.module_utils.teletreball_audit import CheckError, control
from ansible.module_utils.teletreball_audit_parsers import (
    addresses_difference,
    jump_target,
    match_of,
    need,
    networks_of,
    ports_of,
    rule_text,
    ruleset,
    verdict,
)

CONFIG_DIR = "/etc/wireguard"
TABLE = ("inet", "teletreball")


def _interface(ctx):
    return ctx.params.get("vpn_interface", "wg0")


def configured_peers(ctx):
    """[{name, public_key, allowed_ips}] of wg0.conf's peers, in file order (the file
    is read without evidence: it holds the preshared keys)."""
    path = f"{CONFIG_DIR}/{_interface(ctx)}.conf"
    text = ctx.read(path, evidence=False)
    if text is None:
        raise CheckError(f"{path} is missing")
    peers, name, current = [], None, None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            name = line.lstrip("#").strip()
        elif line == "[Peer]":
            current = {"name": name, "public_key": None, "allowed_ips": []}
            peers.append(current)
        elif line.startswith("[") or not line:
            if line.startswith("["):
                current = None
        elif current is not None:
            key, _, value = line.partition("=")
            key = key.strip().lower()
            if key == "publickey":
                current["public_key"] = value.strip()
            elif key == "allowedips":
                current["allowed_ips"] += [v.strip() for v in value.split(",") if v.strip()]
    return peers, text


def running_peers(ctx):
    """{public key: [allowed IPs]} of the running interface (public keys only)."""
    out = ctx.output("wg", "show", _interface(ctx), "allowed-ips")
    peers = {}
    for line in out.splitlines():
        fields = line.split()
        if fields:
            peers[fields[0]] = [ip for ip in fields[1:] if ip != "(none)"]
    return peers


@control("VPN-ACC-01")
def vpn_access_matrix(ctx):
    rules = need(ctx, "vpn_access_rules", "the access matrix (teletreball_access)")
    interface = _interface(ctx)
    dns = list(ctx.params.get("vpn_client_dns") or [])
    nft = ruleset(ctx)
    ctx.run("nft", "list", "chain", *TABLE, "vpn_forward")

    forward = nft.chains.get((*TABLE, "forward"), {})
    ctx.expect(forward.get("hook") == "forward" and forward.get("policy") == "drop",
               "the gateway drops forwarded traffic not accepted",
               f"chain forward hook {forward.get('hook')} policy {forward.get('policy')}")
    # What decides before vpn_forward: only replies may be accepted there.
    before = []
    for chain, target in (("forward", "forward_services"), ("forward_services", "vpn_forward")):
        for expr in nft.chain_rules(*TABLE, chain) or []:
            if jump_target(expr) == target:
                break
            if verdict(expr) == "accept" and match_of(expr, "ct state") is None:
                before.append(f"{chain}: {rule_text(expr)}")
    chain = nft.chain_rules(*TABLE, "vpn_forward")
    if chain is None:
        ctx.expect(False, "the chain vpn_forward decides the tunnel's traffic",
                   "no chain vpn_forward")
        return
    ctx.expect(not before, "nothing accepts the tunnel's new connections before vpn_forward",
               "; ".join(before) if before else "forward: ct state established,related, "
               "then vpn_forward")
    last = chain[-1] if chain else []
    ctx.expect(bool(chain) and verdict(last) == "drop"
               and not [s for s in last if "match" in s],
               "every other packet from the tunnel is dropped and counted",
               "vpn_forward ends with: " + (rule_text(last) if chain else "(empty)"))
    first = chain[0] if chain else []
    ctx.expect(verdict(first) == "return" and match_of(first, "iifname") is None
               and any(s.get("match", {}).get("right") == interface for s in first),
               f"vpn_forward decides the packets from {interface}",
               "vpn_forward starts with: " + (rule_text(first) if chain else "(empty)"))

    wanted, sets_wrong = set(), []
    for rule in rules:
        service = rule["service"]
        destinations = tuple(str(n) for n in networks_of(list(rule["destinations"])))
        for proto in ("tcp", "udp"):
            if rule.get(proto):
                wanted.add((f"@vpn_{service}_devices", destinations, proto,
                            frozenset(str(p) for p in rule[proto])))
        live = networks_of(nft.sets.get((*TABLE, f"vpn_{service}_devices"), []))
        granted = networks_of(list(rule["sources"]))
        if live != granted:
            sets_wrong.append(f"vpn_{service}_devices: {addresses_difference(live, granted)}")
    ctx.expect(not sets_wrong, "each service's set holds exactly the devices granted it",
               "; ".join(sets_wrong) if sets_wrong else
               "; ".join(f"vpn_{r['service']}_devices: {len(r['sources'])} devices"
                         for r in rules))
    seen, extra = set(), []
    dns_nets = networks_of(dns) if dns else []
    for expr in chain[1:-1]:
        kind = verdict(expr)
        if kind != "accept":
            if kind not in (None, "drop", "reject"):
                extra.append(rule_text(expr))
            continue
        daddr = match_of(expr, "ip daddr")
        if dns_nets and daddr is not None and networks_of(daddr) == dns_nets:
            continue
        source = match_of(expr, "ip saddr")
        proto = next((p for p in ("tcp", "udp") if match_of(expr, f"{p} dport") is not None),
                     None)
        key = (source, tuple(str(n) for n in networks_of(daddr)) if daddr is not None else (),
               proto, frozenset(ports_of(match_of(expr, f"{proto} dport"))) if proto else None)
        if key in wanted:
            seen.add(key)
        else:
            extra.append(rule_text(expr))
    missing = [f"{src} {proto} {','.join(sorted(ports))}" for src, _, proto, ports in wanted - seen]
    ctx.expect(not extra, "vpn_forward accepts nothing the access matrix does not grant",
               ("not granted: " + "; ".join(extra)) if extra else
               f"{len(seen)} accept rules, all granted")
    ctx.expect(not missing, "each granted service is accepted to its networks and ports",
               ("missing: " + "; ".join(sorted(missing))) if missing else
               "; ".join(sorted(f"{src} {proto} {','.join(sorted(p))}"
                                for src, _, proto, p in seen)))

    guard = nft.chain_rules("inet", "teletreball_vpn_guard", "input")
    guard_chain = nft.chains.get(("inet", "teletreball_vpn_guard", "input"), {})
    bad = []
    for expr in guard or []:
        if verdict(expr) != "accept":
            continue
        if (match_of(expr, "ct state") is not None or match_of(expr, "icmp type") is not None
                or any(s.get("match", {}).get("op") == "!=" for s in expr)
                or match_of(expr, "ip saddr") == "@admin_devices"):
            continue
        bad.append(rule_text(expr))
    ctx.expect(bool(guard) and guard_chain.get("hook") == "input" and verdict(guard[-1]) == "drop"
               and not bad,
               "the gateway itself answers the tunnel with ping and admin SSH only",
               ("also accepted: " + "; ".join(bad)) if bad else
               "teletreball_vpn_guard input ends with: " +
               (rule_text(guard[-1]) if guard else "(missing)"))


@control("VPN-ADDR-01")
def vpn_devices_keep_their_address(ctx):
    pool = ipaddress.ip_network(need(ctx, "vpn_pool"), strict=False)
    interface = _interface(ctx)
    nft = ruleset(ctx)
    nat = []
    for family, table, chain, expr in nft.all_rules():
        if not any("masquerade" in s or "snat" in s for s in expr):
            continue
        source = match_of(expr, "ip saddr")
        nets = networks_of(source) if source is not None and not str(source).startswith("@") \
            else None
        if nets is None or any(n.version == 4 and n.overlaps(pool) for n in nets):
            nat.append(f"{family} {table} {chain}: {rule_text(expr)}")
    ctx.expect(not nat, f"the gateway does not masquerade or source-NAT the VPN pool {pool}",
               "; ".join(nat) if nat else "no masquerade or snat rule covers the pool")
    peers = running_peers(ctx)
    addresses, wrong = {}, []
    for key, ips in peers.items():
        nets = [ipaddress.ip_network(ip, strict=False) for ip in ips]
        if len(nets) != 1 or nets[0].prefixlen != 32 or not nets[0].subnet_of(pool):
            wrong.append(f"{key}: {' '.join(ips) or '(none)'}")
        for net in nets:
            addresses.setdefault(str(net), []).append(key)
    shared = [f"{ip} ({len(keys)} peers)" for ip, keys in addresses.items() if len(keys) > 1]
    ctx.expect(not wrong and not shared,
               "each device has its own single address of the pool (one /32 per peer)",
               "; ".join(wrong + shared) if wrong or shared else
               f"{len(peers)} peers, {len(addresses)} distinct /32 addresses in {pool}")
    address = ctx.run("ip", "-o", "-4", "address", "show", "dev", interface)
    found = re.findall(r"inet (\S+)", address.stdout)
    ctx.expect(any(ipaddress.ip_interface(a).network == pool for a in found),
               f"{interface} is the gateway's address in {pool}",
               f"{interface}: " + (", ".join(found) or "no address"))
    forwarding = (ctx.read("/proc/sys/net/ipv4/ip_forward") or "").strip()
    ctx.expect(forwarding == "1", "the gateway routes the devices' packets (ip_forward 1)",
               f"net.ipv4.ip_forward = {forwarding or '?'}")


@control("VPN-KEY-01")
def vpn_keys_private(ctx):
    interface = _interface(ctx)
    folder = ctx.stat(CONFIG_DIR)
    config = ctx.stat(f"{CONFIG_DIR}/{interface}.conf")
    key = ctx.stat(f"{CONFIG_DIR}/{interface}.key")

    def shown(info):
        return f"{info['mode']} {info['user']}:{info['group']}" if info else "missing"

    ctx.expect(bool(folder) and folder["mode"] == "0700" and folder["user"] == "root",
               f"{CONFIG_DIR} is root's only (0700)", f"{CONFIG_DIR} {shown(folder)}")
    ctx.expect(bool(config) and config["mode"] == "0600" and config["user"] == "root",
               f"{interface}.conf (preshared keys) is root's only (0600)",
               f"{CONFIG_DIR}/{interface}.conf {shown(config)}")
    ctx.expect(bool(key) and key["mode"] == "0600" and key["user"] == "root",
               "the gateway's private key is root's only (0600)",
               f"{CONFIG_DIR}/{interface}.key {shown(key)}")
    _, text = configured_peers(ctx)
    private = [line for line in text.splitlines()
               if line.strip().lower().replace(" ", "").startswith("privatekey=")]
    post_up = next((line.strip() for line in text.splitlines()
                    if line.strip().lower().startswith("postup")), "")
    ctx.expect(not private and f"private-key {CONFIG_DIR}/{interface}.key" in post_up,
               f"{interface}.conf holds no private key: the interface takes it from "
               f"{interface}.key",
               (f"{interface}.conf has a PrivateKey line") if private else
               (post_up or "no PostUp line setting the key"))
    public = ctx.run("wg", "show", interface, "public-key")
    # The key file's public key, derived on the host: the private key never
    # leaves it (not even into the evidence). After a rotation the running
    # interface must hold the new key, or the old profiles still work.
    expected = ctx.run("sh", "-c", 'wg pubkey < "$1"', "sh", f"{CONFIG_DIR}/{interface}.key")
    running = public.stdout.strip()
    ctx.expect(public.ok and running not in ("", "(none)") and expected.ok
               and running == expected.stdout.strip(),
               f"{interface} runs with the gateway's key (that of {interface}.key)",
               f"running public key {running or public.stderr.strip()}, "
               f"{interface}.key's {expected.stdout.strip() or expected.stderr.strip()}")
    state = ctx.run("systemctl", "is-active", f"wg-quick@{interface}.service").stdout.strip()
    ctx.expect(state == "active", f"wg-quick@{interface} runs", f"wg-quick@{interface} {state}")


@control("VPN-REV-01")
def vpn_peers_of_present_people_only(ctx):
    devices = need(ctx, "vpn_devices", "the present people's devices")
    absent = set(ctx.params.get("vpn_absent_people") or [])
    interface = _interface(ctx)
    peers, _ = configured_peers(ctx)
    running = running_peers(ctx)
    configured = {p["public_key"]: p for p in peers}
    added = sorted(set(running) - set(configured))
    stale = sorted(set(configured) - set(running))
    ctx.expect(not added and not stale,
               f"the running {interface} has exactly the peers of {interface}.conf",
               "; ".join([f"running, not configured: {k} {' '.join(running[k])}" for k in added]
                         + [f"configured, not running: {configured[k]['name']} {k}"
                            for k in stale])
               or f"{len(running)} peers running, as configured")
    wanted = {f"{d['username']}/{d['device']}": f"{d['address']}/32" for d in devices}
    named = {p["name"]: p for p in peers}
    unknown = sorted(str(name) for name in set(named) - set(wanted))
    missing = sorted(set(wanted) - set(named))
    ctx.expect(not unknown and len(named) == len(peers),
               "every peer is a device of a present person",
               ("peers of: " + ", ".join(unknown)) if unknown else
               f"{len(peers)} peers: " + ", ".join(sorted(str(n) for n in named)))
    ctx.expect(not missing, "every present person's device has its peer",
               ("no peer: " + ", ".join(missing)) if missing else
               f"{len(wanted)} devices, {len(wanted)} peers")
    moved = []
    for name, address in sorted(wanted.items()):
        peer = named.get(name)
        if peer is None:
            continue
        live = running.get(peer["public_key"], peer["allowed_ips"])
        if live != [address]:
            moved.append(f"{name}: {' '.join(live) or '(none)'} (expected {address})")
    ctx.expect(not moved, "each peer has its device's own address only",
               "; ".join(moved) if moved else
               "; ".join(f"{n} {a}" for n, a in sorted(wanted.items())))
    revoked = sorted(str(name) for name in named
                     if name and str(name).split("/", 1)[0] in absent)
    ctx.expect(not revoked, "no absent person has a peer",
               ("peers of absent people: " + ", ".join(revoked)) if revoked else
               "absent: " + (", ".join(sorted(absent)) or "nobody") + "; none has a peer")
