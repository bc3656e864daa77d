# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The staff directory of teletreball: validation, VPN addresses, extensions, identities.

Pure functions without Ansible, shared by the module ``teletreball_directory``
and the unit tests. ``validate`` returns every problem of the inventory data as
a message naming the person (or network, or rule) and the field; ``allocate``
gives each VPN device an address that stays the same while other people come
and go, and holds a freed address back for a quarantine before reusing it;
``hold_extensions`` does the same for PBX extensions (a freed extension is held
back so that nobody else gets the calls meant for its previous holder), and
``record_identities`` remembers which person (identity key: the explicit ``id``
or the e-mail) each username belongs to, so that a username given to somebody
else is recognised (issue 18 D).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import unicodedata

try:
    import netaddr

    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported by the module
    netaddr = None
    HAS_NETADDR = False

# Services a group can be granted through the VPN (teletreball_access keys).
SERVICES = ("desktop", "phone", "chat", "admin_ssh")
STATES = ("present", "absent")
PERSON_FIELDS = {
    "username", "name", "email", "department", "groups", "extension", "mobile",
    "vpn_devices", "desktop", "desktop_host", "follow_me", "state", "id",
}
# The one username rule: the modules that take usernames import it from here.
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# Names that already belong to Debian system accounts or our own service users.
RESERVED_USERNAMES = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news",
    "uucp", "proxy", "www-data", "backup", "list", "irc", "nobody", "systemd-network",
    "systemd-timesync", "messagebus", "sshd", "_apt", "asterisk", "prosody", "xrdp",
    "turnserver", "jitsi", "jicofo", "jvb", "admin", "administrator",
})
GROUP_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
DEVICE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
NETWORK_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
# Phone numbers in international (E.164) form: +34 and 9 digits for Spain.
MOBILE_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")
EXTENSION_RE = re.compile(r"^[0-9]{2,6}$")
PORT_RE = re.compile(r"^[0-9]{1,5}$")
# Fewer addresses than this is a mistake, not a network (a /30 has 4).
MIN_NETWORK_SIZE = 4
# Characters refused in every free-text field: control characters (a line break
# would start a new line, so a new section or setting, in the generated
# configuration files), line and paragraph separators, format characters such
# as the bidirectional overrides (text that displays other than it reads), and
# unassigned, private-use or surrogate code points (issue 18).
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Version 2 added the extensions held and in quarantine and the identity of each
# username; a version 1 file is migrated (``migrate_state``).
STATE_VERSION = 2
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def text_problem(value):
    """Why the free text ``value`` is refused (None when it is fine): the first
    refused character, named by its code point and position."""
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            name = unicodedata.name(char, "a control or unassigned character")
            return (f"holds U+{ord(char):04X} ({name.lower()}) at character {position}; "
                    "line breaks, tabs and other control or invisible characters are refused")
    return None


def _who(person, index):
    if isinstance(person, dict) and isinstance(person.get("username"), str):
        return f"teletreball_staff[{index}] ({person['username']})"
    return f"teletreball_staff[{index}]"


def parse_network(value):
    """Return a netaddr.IPNetwork for a CIDR with the host bits at zero, else None."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        net = netaddr.IPNetwork(value)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None
    if net.network != net.ip:
        return None
    return net


def active_devices(staff):
    """Return the device keys ``username/device`` of every present person, in order."""
    keys = []
    for person in staff:
        if person.get("state", "present") != "present":
            continue
        for device in person.get("vpn_devices") or []:
            keys.append(f"{person['username']}/{device}")
    return keys


def usable_addresses(pool):
    """Number of addresses the pool can hand out: not the network, broadcast or gateway."""
    reserved = 3 if pool.version == 4 else 2
    return max(pool.size - reserved, 0)


def validate(staff, networks, groups, access, services, extension_range, vpn_pool,
             quarantined=0, desktop_hosts=()):
    """Return the list of problems of the directory data; empty when it is valid."""
    errors = []
    errors += _validate_desktop_hosts(staff, desktop_hosts)
    errors += _validate_groups(groups)
    known_groups = set(groups) if isinstance(groups, dict) else set()
    nets, net_errors = _validate_networks(networks)
    errors += net_errors
    first, last, range_errors = _validate_extension_range(extension_range)
    errors += range_errors
    errors += _validate_staff(staff, known_groups, first, last)
    errors += _validate_access(access, known_groups)
    errors += _validate_services(services, nets, networks)
    if isinstance(access, dict) and isinstance(services, dict):
        errors += [
            f"teletreball_access.{service}: the service is granted but not described in "
            "teletreball_services (its networks and ports)."
            for service in access
            if service in SERVICES and access[service] and service not in services
        ]
    errors += _validate_pool(vpn_pool, nets, networks, staff, quarantined)
    return errors


def _validate_desktop_hosts(staff, desktop_hosts):
    """A person's explicit ``desktop_host`` must be one of the session hosts."""
    if not isinstance(staff, list):
        return []
    errors = []
    known = ", ".join(desktop_hosts) if desktop_hosts else "none: the group vdi_hosts is empty"
    for index, person in enumerate(staff):
        if not isinstance(person, dict) or person.get("desktop_host") is None:
            continue
        who, host = _who(person, index), person["desktop_host"]
        if not isinstance(host, str) or host not in desktop_hosts:
            errors.append(
                f"{who}: desktop_host '{host}' is not a remote-desktop session host "
                f"(known: {known})."
            )
        elif not person.get("desktop", False):
            errors.append(f"{who}: desktop_host is set but desktop is not true.")
    return errors


def assign_desktop_host(username, desktop_hosts):
    """The session host of a person without an explicit one: rendezvous hashing.

    Each host scores sha256("<host>/<username>"); the highest score wins. The
    result depends only on the name and the set of hosts (not their order), and
    adding a host moves only the people that host now wins.
    """
    if not desktop_hosts:
        return None
    return max(
        sorted(desktop_hosts),
        key=lambda host: hashlib.sha256(f"{host}/{username}".encode()).hexdigest(),
    )


def _validate_groups(groups):
    if not isinstance(groups, dict) or not groups:
        return ["teletreball_groups must map each group name to its description."]
    return [
        f"teletreball_groups: '{name}' is not a valid group name "
        "(lowercase letter, then letters, digits or _)."
        for name in groups
        if not isinstance(name, str) or not GROUP_RE.fullmatch(name)
    ]


def _validate_networks(networks):
    errors, nets = [], {}
    if not isinstance(networks, dict) or not networks:
        return {}, ["teletreball_networks must map each network name to a CIDR."]
    for name, value in networks.items():
        if not isinstance(name, str) or not NETWORK_NAME_RE.fullmatch(name):
            errors.append(f"teletreball_networks: '{name}' is not a valid network name.")
            continue
        net = parse_network(value)
        if net is None:
            errors.append(
                f"teletreball_networks.{name}: '{value}' is not a network in CIDR "
                "notation with the host bits at zero (for example 10.20.0.0/24)."
            )
            continue
        if net.version != 4:
            errors.append(
                f"teletreball_networks.{name}: {value} is an IPv6 network; teletreball "
                "supports IPv4 networks only for now."
            )
            continue
        if net.size < MIN_NETWORK_SIZE:
            errors.append(
                f"teletreball_networks.{name}: {value} is too small "
                f"({net.size} addresses; at least {MIN_NETWORK_SIZE})."
            )
            continue
        nets[name] = net
    names = sorted(nets)
    for i, one in enumerate(names):
        for other in names[i + 1:]:
            a, b = nets[one], nets[other]
            if a.first <= b.last and b.first <= a.last:
                errors.append(
                    f"teletreball_networks: {one} ({a}) and {other} ({b}) overlap."
                )
    return nets, errors


def _validate_extension_range(extension_range):
    if not isinstance(extension_range, dict):
        return None, None, ["teletreball_extension_range must be {first: N, last: M}."]
    first, last = extension_range.get("first"), extension_range.get("last")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (first, last)) \
            or not 10 <= first <= last <= 999999:
        return None, None, [
            "teletreball_extension_range must be {first: N, last: M} with "
            f"10 <= N <= M <= 999999; it is {extension_range}."
        ]
    return first, last, []


def _validate_staff(staff, known_groups, first, last):
    if not isinstance(staff, list):
        return ["teletreball_staff must be a list of people."]
    errors = []
    seen_users, seen_ext, seen_ids = {}, {}, {}
    for index, person in enumerate(staff):
        who = _who(person, index)
        if not isinstance(person, dict):
            errors.append(f"{who}: each person must be a mapping of fields.")
            continue
        errors += [
            f"{who}: unknown field '{key}' (known: {', '.join(sorted(PERSON_FIELDS))})."
            for key in person
            if key not in PERSON_FIELDS
        ]
        username = person.get("username")
        if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
            errors.append(
                f"{who}: username '{username}' is invalid: use 1 to 32 characters, "
                "a lowercase letter first, then lowercase letters, digits, _ or -."
            )
        elif username in RESERVED_USERNAMES:
            errors.append(f"{who}: username '{username}' is reserved for the system.")
        elif username in seen_users:
            errors.append(
                f"{who}: username '{username}' is already used by "
                f"teletreball_staff[{seen_users[username]}]."
            )
        else:
            seen_users[username] = index
        state = person.get("state", "present")
        if state not in STATES:
            errors.append(f"{who}: state '{state}' must be present or absent.")
        for field in ("name", "department"):
            if not isinstance(person.get(field), str) or not person[field].strip():
                errors.append(f"{who}: {field} is required.")
            elif (problem := text_problem(person[field])) is not None:
                errors.append(f"{who}: {field} {problem}.")
        email = person.get("email")
        if not isinstance(email, str) or not EMAIL_RE.fullmatch(email):
            errors.append(f"{who}: email '{email}' is not a valid e-mail address.")
        errors += _validate_identity(who, person, state, seen_ids)
        errors += _validate_person_groups(who, person.get("groups"), known_groups)
        # An offboarded person's extension is free for somebody else.
        if state == "present" and person.get("extension") is not None:
            ext = str(person["extension"])
            if isinstance(person["extension"], bool) or not EXTENSION_RE.fullmatch(ext):
                errors.append(f"{who}: extension '{ext}' must be 2 to 6 digits.")
            elif first is not None and not first <= int(ext) <= last:
                errors.append(
                    f"{who}: extension {ext} is outside the numbering range "
                    f"{first}-{last} (teletreball_extension_range)."
                )
            elif ext in seen_ext:
                errors.append(
                    f"{who}: extension {ext} is already used by {seen_ext[ext]}."
                )
            else:
                seen_ext[ext] = who
        mobile = person.get("mobile")
        if mobile is not None and (not isinstance(mobile, str) or not MOBILE_RE.fullmatch(mobile)):
            errors.append(
                f"{who}: mobile '{mobile}' is not a phone number in international "
                "form (+ country code and number, digits only, e.g. +34600111222)."
            )
        follow_me = person.get("follow_me", False)
        if not isinstance(follow_me, bool):
            errors.append(f"{who}: follow_me must be true or false.")
        elif follow_me and (mobile is None or person.get("extension") is None):
            errors.append(f"{who}: follow_me needs a mobile and an extension.")
        errors += _validate_devices(who, person.get("vpn_devices", []))
        if not isinstance(person.get("desktop", False), bool):
            errors.append(f"{who}: desktop must be true or false.")
    return errors


def identity_key(person):
    """The key that tells people apart: the explicit ``id`` when given, else the
    e-mail address (lowercase). None when neither is usable."""
    ident = person.get("id")
    if ident is not None:
        if isinstance(ident, bool) or not isinstance(ident, (str, int)) \
                or not ID_RE.fullmatch(str(ident)):
            return None
        return f"id:{ident}"
    email = person.get("email")
    if isinstance(email, str) and EMAIL_RE.fullmatch(email):
        return f"email:{email.lower()}"
    return None


def identity(person):
    """What the state files and the hosts keep of a person's identity key: a digest,
    so that they tell people apart without holding the e-mail or the id."""
    key = identity_key(person)
    if key is None:
        return None
    return hashlib.sha256(f"teletreball-identity\0{key}".encode()).hexdigest()[:32]


def _validate_identity(who, person, state, seen_ids):
    ident = person.get("id")
    if ident is not None and identity_key(person) is None:
        return [
            f"{who}: id '{ident}' is invalid: 1 to 128 letters, digits or . _ : @ + - "
            "(an employee number, for example), starting with a letter or a digit."
        ]
    key = identity_key(person)
    if key is None or state != "present":
        return []
    if key in seen_ids:
        field = "id" if ident is not None else "email"
        return [
            f"{who}: {field} '{key.split(':', 1)[1]}' already identifies {seen_ids[key]}; "
            "each present person needs her own identity (give people who share an "
            "e-mail address an explicit id)."
        ]
    seen_ids[key] = who
    return []


def _validate_person_groups(who, person_groups, known_groups):
    if not isinstance(person_groups, list) or not person_groups:
        return [f"{who}: groups must list at least one group."]
    return [
        f"{who}: unknown group '{group}' (teletreball_groups has: "
        f"{', '.join(sorted(known_groups))})."
        for group in person_groups
        if group not in known_groups
    ]


def _validate_devices(who, devices):
    if devices is None:
        return []
    if not isinstance(devices, list):
        return [f"{who}: vpn_devices must be a list of device names."]
    errors, seen = [], set()
    for device in devices:
        if not isinstance(device, str) or not DEVICE_RE.fullmatch(device):
            errors.append(
                f"{who}: VPN device name '{device}' is invalid: 1 to 24 lowercase "
                "letters, digits or -."
            )
        elif device in seen:
            errors.append(f"{who}: VPN device '{device}' is listed twice.")
        else:
            seen.add(device)
    return errors


def _unknown_service(variable, service):
    return f"{variable}: unknown service '{service}' (services: {', '.join(SERVICES)})."


def _validate_access(access, known_groups):
    if not isinstance(access, dict):
        return ["teletreball_access must map each service to the groups that may use it."]
    errors = []
    for service, rule_groups in access.items():
        if service not in SERVICES:
            errors.append(_unknown_service("teletreball_access", service))
            continue
        if not isinstance(rule_groups, list):
            errors.append(f"teletreball_access.{service} must be a list of groups.")
            continue
        errors += [
            f"teletreball_access.{service}: unknown group '{group}'."
            for group in rule_groups
            if group not in known_groups
        ]
    return errors


def _validate_services(services, nets, networks):
    if not isinstance(services, dict):
        return ["teletreball_services must map each service to {networks, tcp, udp}."]
    errors = []
    for service, spec in services.items():
        if service not in SERVICES:
            errors.append(_unknown_service("teletreball_services", service))
            continue
        if not isinstance(spec, dict):
            errors.append(f"teletreball_services.{service} must be {{networks, tcp, udp}}.")
            continue
        service_networks = spec.get("networks")
        if not isinstance(service_networks, list) or not service_networks:
            errors.append(
                f"teletreball_services.{service}.networks must list the networks "
                "where the service runs."
            )
            service_networks = []
        errors += [
            f"teletreball_services.{service}: network '{network}' is not defined "
            "in teletreball_networks."
            for network in service_networks
            if network not in (networks or {})
        ]
        for proto in ("tcp", "udp"):
            for port in spec.get(proto, []) or []:
                if not _valid_port(port):
                    errors.append(
                        f"teletreball_services.{service}.{proto}: '{port}' is not a port "
                        "(1-65535) or a range 'first-last'."
                    )
    return errors


def _valid_port(port):
    parts = str(port).split("-")
    if isinstance(port, bool) or len(parts) > 2 or not all(PORT_RE.fullmatch(p) for p in parts):
        return False
    values = [int(p) for p in parts]
    return all(1 <= v <= 65535 for v in values) and values == sorted(values)


def _validate_pool(vpn_pool, nets, networks, staff, quarantined):
    if vpn_pool not in (networks or {}):
        return [
            f"teletreball_vpn_pool: network '{vpn_pool}' is not defined in "
            "teletreball_networks."
        ]
    pool = nets.get(vpn_pool)
    if pool is None or not isinstance(staff, list):
        return []  # already reported
    needed = len(active_devices([p for p in staff if isinstance(p, dict)]))
    available = usable_addresses(pool)
    if needed + quarantined > available:
        return [
            f"teletreball_networks.{vpn_pool} ({pool}) is too small for the VPN: "
            f"{needed} devices and {quarantined} quarantined addresses need "
            f"{needed + quarantined} addresses, it has {available}."
        ]
    return []


# --- allocation -------------------------------------------------------------

def new_state(pool):
    return {
        "version": STATE_VERSION, "pool": str(pool), "allocations": {}, "released": {},
        "extensions": {"held": {}, "released": {}}, "people": {},
    }


def migrate_state(state):
    """The state in the current version: a version 1 file (VPN addresses only) gets
    empty extension and identity records. Its extensions are recorded from this run
    on: an extension freed before the migration is not in quarantine."""
    if state is None:
        return None
    if not isinstance(state, dict):
        raise AllocationError("the VPN address file is not a JSON object.")
    if state.get("version") == 1:
        state = dict(state, version=STATE_VERSION,
                     extensions={"held": {}, "released": {}}, people={})
    if state.get("version") != STATE_VERSION:
        raise AllocationError(
            f"the VPN address file has version {state.get('version')}, expected {STATE_VERSION}."
        )
    return state


def _parse_time(value):
    return _dt.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=_dt.UTC)


def count_quarantined(state, now, quarantine_days, keep=()):
    """Addresses still in quarantine at ``now``, except those given back to ``keep``."""
    limit = _dt.timedelta(days=quarantine_days)
    return sum(
        1
        for entry in (state or {}).get("released", {}).values()
        if now - _parse_time(entry["released_at"]) < limit and entry["device"] not in keep
    )


class AllocationError(ValueError):
    """The saved allocation cannot be kept with the current inventory."""


def allocate(state, pool_cidr, devices, now, quarantine_days, reused=()):
    """Return a new allocation state for ``devices`` (keys ``user/device``).

    * a device that had an address keeps it, unless its username was given to
      another person (``reused``, see ``record_identities``): her predecessor's
      addresses are released and she gets new ones;
    * a device no longer listed releases its address, which is held back for
      ``quarantine_days`` days and then becomes free again;
    * a device listed again while its old address is still held back gets that
      address back;
    * a new device gets the lowest free address of the pool (the first host
      address is the gateway's own and never handed out).
    """
    pool = netaddr.IPNetwork(pool_cidr)
    state = migrate_state(state) or new_state(pool)
    stamp = now.strftime(TIME_FORMAT)
    limit = _dt.timedelta(days=quarantine_days)
    allocations = dict(state.get("allocations", {}))
    released = {
        addr: entry
        for addr, entry in state.get("released", {}).items()
        if now - _parse_time(entry["released_at"]) < limit
    }
    outside = sorted(
        f"{key} ({entry['address']})"
        for key, entry in allocations.items()
        if not _usable(pool, entry["address"])
    )
    if outside:
        raise AllocationError(
            f"the VPN pool is now {pool}, but these devices hold addresses outside it (or "
            "on its network, gateway or broadcast address): "
            f"{', '.join(outside)}. Keep the old pool, or move the VPN address file "
            "aside to renumber every device (each person then needs a new VPN profile)."
        )
    reused = set(reused)
    wanted = {key for key in devices if key.split("/", 1)[0] not in reused}
    for key in sorted(set(allocations) - wanted):
        entry = allocations.pop(key)
        released[entry["address"]] = {"device": key, "released_at": stamp}
    by_device = {
        entry["device"]: addr for addr, entry in released.items()
        if entry["device"].split("/", 1)[0] not in reused
    }
    taken = {entry["address"] for entry in allocations.values()} | set(released)
    candidates = _free_addresses(pool, taken)
    for key in devices:
        if key in allocations:
            continue
        if key in by_device:
            address = by_device[key]
            del released[address]
        else:
            address = next(candidates, None)
            if address is None:
                raise AllocationError(f"the VPN pool {pool} has no free address for {key}.")
        allocations[key] = {"address": address, "since": stamp}
    return dict(
        state,
        version=STATE_VERSION,
        pool=str(pool),
        allocations=dict(sorted(allocations.items())),
        released=dict(sorted(released.items(), key=lambda kv: netaddr.IPAddress(kv[0]))),
    )


# --- extensions and identities -------------------------------------------------

def extension_holders(staff):
    """Extension to (username, identity) of every present person who has one."""
    holders = {}
    for person in staff:
        if person.get("state", "present") != "present" or person.get("extension") is None:
            continue
        holders[str(person["extension"])] = (person["username"], identity(person))
    return holders


def _free_on(entry, quarantine_days):
    return (_parse_time(entry["released_at"]) + _dt.timedelta(days=quarantine_days)).date()


def hold_extensions(state, holders, now, quarantine_days):
    """Return ``(extensions, conflicts)``: the new record of the extensions, and the
    extensions given to somebody else while in quarantine.

    * an extension whose holder (by identity) no longer has it, is absent or was
      removed from the directory is released and held back for ``quarantine_days``;
    * its previous holder (the same identity, under any username) gets it back;
    * anybody else who is given it during the quarantine is a conflict: an entry
      ``{extension, username, previous, released_at, free_on}``. The record then
      keeps the extension in quarantine and leaves it unheld.
    """
    record = (state or {}).get("extensions") or {"held": {}, "released": {}}
    stamp = now.strftime(TIME_FORMAT)
    limit = _dt.timedelta(days=quarantine_days)
    held = dict(record.get("held", {}))
    released = {
        ext: entry for ext, entry in record.get("released", {}).items()
        if now - _parse_time(entry["released_at"]) < limit
    }
    for ext in sorted(held):
        holder = holders.get(ext)
        if holder is None or holder[1] != held[ext]["identity"]:
            entry = held.pop(ext)
            released[ext] = {"username": entry["username"], "identity": entry["identity"],
                             "released_at": stamp}
            # Released now with no quarantine: free at once.
            if quarantine_days == 0:
                del released[ext]
    conflicts = []
    for ext, (username, ident) in sorted(holders.items()):
        entry = held.get(ext)
        if entry is not None:
            if entry["username"] != username:  # the same person, renamed
                held[ext] = dict(entry, username=username)
            continue
        previous = released.get(ext)
        if previous is not None and previous["identity"] != ident:
            conflicts.append({
                "extension": ext, "username": username, "previous": previous["username"],
                "released_at": previous["released_at"][:10],
                "free_on": _free_on(previous, quarantine_days).isoformat(),
            })
            continue
        released.pop(ext, None)
        held[ext] = {"username": username, "identity": ident, "since": stamp}
    return {
        "held": dict(sorted(held.items(), key=lambda kv: int(kv[0]))),
        "released": dict(sorted(released.items(), key=lambda kv: int(kv[0]))),
    }, conflicts


def extension_problems(staff, conflicts, quarantine_days):
    """The preflight's messages for the conflicts of ``hold_extensions``."""
    index = {
        p.get("username"): i for i, p in enumerate(staff) if isinstance(p, dict)
    }
    return [
        f"{_who(staff[index[c['username']]], index[c['username']])}: extension "
        f"{c['extension']} is in quarantine until {c['free_on']}: it was "
        f"{c['previous']}'s until {c['released_at']} and is held back "
        f"{quarantine_days} days (teletreball_extension_quarantine_days) so that "
        "nobody else gets the calls and voicemail meant for its previous holder. "
        "Give another extension."
        for c in conflicts
    ]


def record_identities(state, staff, now):
    """Return ``(people, reused)``: the identity of every username listed (present
    or absent; usernames deleted from the directory are remembered), and the
    usernames whose identity differs from the one recorded, i.e. given to another
    person. A username first seen gets its identity recorded, never reused."""
    people = {k: dict(v) for k, v in ((state or {}).get("people") or {}).items()}
    stamp = now.strftime(TIME_FORMAT)
    reused = []
    for person in staff:
        username, ident = person["username"], identity(person)
        entry = people.get(username)
        if entry is not None and entry["identity"] == ident:
            continue
        if entry is not None:
            reused.append(username)
        people[username] = {"identity": ident, "since": stamp}
    return dict(sorted(people.items())), reused


def _usable(pool, address):
    """True when ``address`` may belong to a device: inside the pool, and not its
    network, gateway (first host) or broadcast address."""
    value = int(netaddr.IPAddress(address))
    last = pool.last - 1 if pool.version == 4 else pool.last
    return pool.first + 2 <= value <= last


def gateway_address(pool_cidr):
    """The VPN gateway's own address: the first host address of the pool."""
    return str(netaddr.IPAddress(netaddr.IPNetwork(pool_cidr).first + 1))


def _free_addresses(pool, taken):
    first = pool.first + 2  # skip the network address and the gateway
    last = pool.last - 1 if pool.version == 4 else pool.last
    for value in range(first, last + 1):
        address = str(netaddr.IPAddress(value, pool.version))
        if address not in taken:
            yield address


# --- the derived directory ----------------------------------------------------

def build_directory(staff, access, state, desktop_hosts=()):
    """Return what the service roles read: each person with services and addresses."""
    people = []
    allocations = state["allocations"] if state else {}
    for person in staff:
        present = person.get("state", "present") == "present"
        person_groups = person.get("groups", [])
        services = [
            service
            for service in SERVICES
            if set(access.get(service, [])) & set(person_groups)
        ]
        devices = [
            {
                "name": device,
                "address": allocations[f"{person['username']}/{device}"]["address"],
            }
            for device in (person.get("vpn_devices") or [])
            if present
        ]
        ext = person.get("extension")
        desktop = present and bool(person.get("desktop", False)) and "desktop" in services
        people.append({
            "username": person["username"],
            "identity": identity(person),
            "name": person["name"],
            "email": person["email"],
            "department": person["department"],
            "groups": list(person_groups),
            "extension": None if ext is None else str(ext),
            "mobile": person.get("mobile"),
            "follow_me": bool(person.get("follow_me", False)),
            "desktop": desktop,
            "desktop_host": (
                person.get("desktop_host")
                or assign_desktop_host(person["username"], desktop_hosts)
            ) if desktop else None,
            "state": person.get("state", "present"),
            "services": services if present else [],
            "vpn_devices": devices,
        })
    return {
        "people": people,
        "present": [p["username"] for p in people if p["state"] == "present"],
        "absent": [p["username"] for p in people if p["state"] == "absent"],
    }
