# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the derived staff directory into what one service needs.

The directory is the result of the module teletreball_directory
(hostvars['localhost']['teletreball_directory']).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import urllib.parse

from ansible.errors import AnsibleFilterError

try:
    import netaddr
except ImportError:  # the controller's requirements.txt installs it
    netaddr = None


def _present(directory):
    if not isinstance(directory, dict) or "people" not in directory:
        raise AnsibleFilterError(
            "the staff directory is missing: run playbooks/preflight.yml first (site.yml does)"
        )
    return [p for p in directory["people"] if p.get("state") == "present"]


def vpn_devices(directory):
    """Every VPN device of every present person: [{username, device, address}]."""
    return [
        {"username": person["username"], "device": device["name"], "address": device["address"]}
        for person in _present(directory)
        for device in person.get("vpn_devices", [])
    ]


def vpn_access_rules(directory, services, networks):
    """One rule per granted service: the device addresses that may reach it and where.

    Returns [{service, sources: [addresses], destinations: [CIDRs], tcp: [..], udp: [..]}],
    in the order of ``services``; a service nobody may use has no rule.
    """
    rules = []
    for service, spec in (services or {}).items():
        sources = sorted(
            device["address"]
            for person in _present(directory)
            if service in person.get("services", [])
            for device in person.get("vpn_devices", [])
        )
        if not sources:
            continue
        try:
            destinations = [networks[name] for name in spec.get("networks", [])]
        except KeyError as exc:
            raise AnsibleFilterError(f"service {service}: unknown network {exc}") from exc
        rules.append({
            "service": service,
            "sources": sources,
            "destinations": destinations,
            "tcp": [str(port) for port in spec.get("tcp", []) or []],
            "udp": [str(port) for port in spec.get("udp", []) or []],
        })
    return rules


def totp_uri(secret_hex, account, issuer, digits=6, period=30):
    """The otpauth:// URI of a TOTP secret (RFC 6238, SHA-1), for authenticator apps.

    ``secret_hex`` is the secret as pam_oath reads it (hex); apps want it in
    base32 without padding. The label is "<issuer>:<account>".
    """
    try:
        raw = binascii.unhexlify(secret_hex)
    except (binascii.Error, TypeError) as exc:
        raise AnsibleFilterError("teletreball_totp_uri: the secret is not hexadecimal") from exc
    if len(raw) < 16:
        raise AnsibleFilterError("teletreball_totp_uri: the secret is shorter than 128 bits")
    if int(digits) not in (6, 8) or not 15 <= int(period) <= 120:
        raise AnsibleFilterError("teletreball_totp_uri: digits must be 6 or 8, period 15-120 s")
    label = urllib.parse.quote(f"{issuer}:{account}", safe=":@")
    query = urllib.parse.urlencode({
        "secret": base64.b32encode(raw).decode().rstrip("="),
        "issuer": issuer,
        "algorithm": "SHA1",
        "digits": int(digits),
        "period": int(period),
    }, quote_via=urllib.parse.quote)
    return f"otpauth://totp/{label}?{query}"


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
_NUMBER = re.compile(r"^\+?[0-9]{3,15}$")


def _minutes(text):
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def pbx_schedule_errors(office_hours, holidays, inbound_numbers, queue_name):
    """Problems of the PBX's inbound routing data, as sentences (empty: good).

    Office hours by weekday ({mon: [{from, to}]}: valid HH:MM, from before to, no
    overlap within a day), holidays ([{date: YYYY-MM-DD, name}], real dates, no
    date twice) and inbound numbers ([{number, to: ivr|queue, queue}], unique,
    known queue).
    """
    errors = []
    if not isinstance(office_hours, dict):
        return ["pbx_office_hours must be a mapping of weekday (mon..sun) to a list of {from, to}."]
    for day, ranges in office_hours.items():
        where = f"pbx_office_hours.{day}"
        if day not in _WEEKDAYS:
            errors.append(f"{where}: '{day}' is not a weekday (mon, tue, wed, thu, fri, sat, sun).")
            continue
        if not isinstance(ranges, list):
            errors.append(f"{where} must be a list of {{from, to}}.")
            continue
        spans = []
        for index, span in enumerate(ranges):
            if not isinstance(span, dict) or set(span) != {"from", "to"}:
                errors.append(f"{where}[{index}] must be {{from: HH:MM, to: HH:MM}}.")
                continue
            bad = [str(span[k]) for k in ("from", "to") if not _HHMM.match(str(span[k]))]
            if bad:
                errors.append(
                    f"{where}[{index}]: '{bad[0]}' is not a time HH:MM (00:00 to 24:00).")
                continue
            start, end = _minutes(span["from"]), _minutes(span["to"])
            if start >= end:
                errors.append(
                    f"{where}[{index}]: {span['from']}-{span['to']} ends before it starts.")
                continue
            spans.append((start, end, f"{span['from']}-{span['to']}"))
        spans.sort()
        for (_s1, e1, t1), (s2, _e2, t2) in zip(spans, spans[1:], strict=False):
            if s2 < e1:
                errors.append(f"{where}: {t1} and {t2} overlap.")
    if not isinstance(holidays, list):
        errors.append("pbx_holidays must be a list of {date: YYYY-MM-DD, name}.")
        holidays = []
    seen = {}
    for index, holiday in enumerate(holidays):
        where = f"pbx_holidays[{index}]"
        if not isinstance(holiday, dict) or not holiday.get("name") or "date" not in holiday:
            errors.append(f"{where} must be {{date: YYYY-MM-DD, name}}.")
            continue
        text = str(holiday["date"])
        try:
            day = datetime.date.fromisoformat(text)
            if len(text) != 10:
                raise ValueError(text)
        except ValueError:
            errors.append(f"{where} ({holiday['name']}): '{text}' is not a date YYYY-MM-DD.")
            continue
        if day in seen:
            errors.append(f"{where} ({holiday['name']}): {text} is already {seen[day]}.")
        seen.setdefault(day, holiday["name"])
    if not isinstance(inbound_numbers, list):
        return errors + ["pbx_inbound_numbers must be a list of {number, to}."]
    numbers = set()
    for index, route in enumerate(inbound_numbers):
        where = f"pbx_inbound_numbers[{index}]"
        if not isinstance(route, dict) or "number" not in route or "to" not in route:
            errors.append(f"{where} must be {{number, to: ivr or queue}}.")
            continue
        number = str(route["number"])
        if not _NUMBER.match(number):
            errors.append(f"{where}: '{number}' is not a phone number (digits, optional +).")
        elif number in numbers:
            errors.append(f"{where}: {number} is listed twice.")
        numbers.add(number)
        if route["to"] not in ("ivr", "queue"):
            errors.append(f"{where} ({number}): to '{route['to']}' must be ivr or queue.")
        queue = route.get("queue", queue_name)
        if queue != queue_name:
            errors.append(f"{where} ({number}): unknown queue '{queue}' "
                          f"(the PBX's queue is '{queue_name}').")
    return errors


def chat_rooms(rooms, people, domain, admins_group):
    """The rooms of conference_rooms with the affiliation of everybody who may enter.

    ``people`` are the chat people (present, granted ``chat``). Members come from the
    room's ``groups`` and ``departments``; the people of ``admins_group`` are admins
    of every room (an admin may enter a members-only room). Absent rooms keep their
    name and state only.
    """
    out = []
    for room in rooms:
        state = room.get("state") or "present"
        affiliations = {}
        if state == "present":
            groups = set(room.get("groups") or [])
            departments = set(room.get("departments") or [])
            for person in people:
                jid = f"{person['username']}@{domain}"
                person_groups = set(person.get("groups") or [])
                if person_groups & groups or person.get("department") in departments:
                    affiliations[jid] = "member"
                if admins_group in person_groups:
                    affiliations[jid] = "admin"
        out.append({
            "name": room["name"],
            "title": room.get("title") or room["name"],
            "description": room.get("description") or "",
            "state": state,
            "affiliations": affiliations,
        })
    return out


def _person_secret(secrets, username, name):
    """The secret ``people/<username>/<name>``, or '' when there is none yet."""
    return (secrets or {}).get(f"people/{username}/{name}", "")


def vdi_accounts(people, secrets):
    """The desktop accounts of ``people`` for the module teletreball_desktop_accounts.

    Returns [{username, comment, password}] in the order of ``people``: the comment
    is the person's name ('' without one) as the GECOS field of /etc/passwd can
    hold it (a : would end the field and a , starts the room number there, so
    both become spaces), the password the secret
    ``people/<username>/desktop-password`` ('' when it is missing, which the
    preflight reports); plus ``identity`` when the person has one (the module then
    gives a username reused by another person a new account and home).
    """
    return [
        {
            "username": person["username"],
            "comment": person.get("name", "").replace(":", " ").replace(",", " "),
            "password": _person_secret(secrets, person["username"], "desktop-password"),
            **_identity_of(person),
        }
        for person in people or []
    ]


def _identity_of(person):
    return {"identity": person["identity"]} if person.get("identity") else {}


def vdi_oath_users(people, secrets):
    """The second-factor users of ``people`` for the module teletreball_oath_users.

    Returns [{username, secret}] in the order of ``people``, the secret being
    ``people/<username>/desktop-totp`` ('' when it is missing, which the
    preflight reports).
    """
    return [
        {
            "username": person["username"],
            "secret": _person_secret(secrets, person["username"], "desktop-totp"),
        }
        for person in people or []
    ]


def chat_accounts(people, secrets, domain):
    """The chat accounts of ``people`` on ``domain`` for the module teletreball_prosody.

    Returns [{host, username, password, name}] in the order of ``people``, the
    password being ``people/<username>/chat-password`` ('' when it is missing) and
    the name the person's display name; plus ``identity`` when the person has one.
    """
    return [
        {
            "host": domain,
            "username": person["username"],
            "password": _person_secret(secrets, person["username"], "chat-password"),
            "name": person.get("name", ""),
            **_identity_of(person),
        }
        for person in people or []
    ]


def pbx_person_levels(people, permissions, levels):
    """Each person's outbound calling level: the widest that one of their groups has.

    ``permissions`` maps a group to a level, ``levels`` lists the levels from the
    narrowest to the widest; a group without a permission, and a person without
    groups, get the narrowest. Returns {username: level} in the order of ``people``.
    """
    levels = list(levels or [])
    if not levels:
        raise AnsibleFilterError("teletreball_pbx_person_levels: the list of levels is empty")
    permissions = permissions or {}
    out = {}
    for person in people or []:
        widest = 0
        for group in person.get("groups") or []:
            level = permissions.get(group, levels[0])
            if level not in levels:
                raise AnsibleFilterError(
                    f"teletreball_pbx_person_levels: group {group} has the level {level!r}, "
                    f"not one of {', '.join(levels)}")
            widest = max(widest, levels.index(level))
        out[person["username"]] = levels[widest]
    return out


def asterisk_pattern_regex(pattern):
    """The regular expression of an Asterisk dialplan pattern such as ``_00X.``
    (X a digit, Z 1-9, N 2-9, [..] a set with ranges, . one or more characters,
    ! zero or more); a plain extension matches itself only."""
    if not pattern.startswith("_"):
        return re.compile(re.escape(pattern))
    classes = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}
    out, index, body = [], 0, pattern[1:]
    while index < len(body):
        char = body[index]
        key = char.upper() if char in "xzn" else char
        if key in classes:
            out.append(classes[key])
        elif char == "[":
            end = body.find("]", index)
            if end < 0:
                raise ValueError(f"unclosed [ in the pattern {pattern}")
            members = re.sub(r"[\\^\]]", lambda m: "\\" + m.group(0), body[index + 1:end])
            out.append(f"[{members}]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out))


def pbx_extension_collisions(staff, emergency_numbers, oac_mailbox, feature_codes,
                             inbound_numbers, patterns):
    """Sentences naming each present person whose extension is also a number the
    PBX's dial plan reserves (an emergency number, the OAC mailbox, a feature
    code, an inbound number) or matches an outbound pattern (``patterns``:
    {level: [pattern]}), as the colleague's extension would shadow it (Asterisk
    prefers an exact match)."""
    reserved = (
        [{"number": n, "what": f"the emergency number {n} (pbx_emergency_numbers)"}
         for n in emergency_numbers or []]
        + [{"number": oac_mailbox, "what": "the OAC mailbox (pbx_oac_mailbox)"}]
        + [{"number": code, "what": f"the feature code {name} (pbx_feature_codes)"}
           for name, code in sorted((feature_codes or {}).items())]
        + [{"number": entry.get("number"),
            "what": f"the inbound number {entry.get('number')} (pbx_inbound_numbers)"}
           for entry in inbound_numbers or [] if isinstance(entry, dict)]
    )
    problems = []
    compiled = [(level, pattern, asterisk_pattern_regex(pattern))
                for level, level_patterns in sorted((patterns or {}).items())
                for pattern in level_patterns or []]
    for index, person in enumerate(staff or []):
        if not isinstance(person, dict) or person.get("state", "present") != "present":
            continue
        extension = person.get("extension")
        if extension is None or isinstance(extension, bool):
            continue
        number = str(extension)
        who = f"teletreball_staff[{index}] ({person.get('username', '?')})"
        for entry in reserved:
            if str(entry["number"]) == number:
                problems.append(f"{who}: extension {number} is {entry['what']}; choose another "
                                "extension.")
        for level, pattern, regex in compiled:
            if regex.fullmatch(number):
                problems.append(f"{who}: extension {number} matches the outbound pattern "
                                f"{pattern} ({level}, pbx_outbound_patterns): calls to it would "
                                "ring the colleague instead; choose another extension.")
    return problems


def pbx_prompt_manifest(names, languages, prompts):
    """What the prompt renderer speaks: every prompt of ``names`` in every language.

    ``languages`` are pbx_ivr_languages ({key, language, voice}; the voice is the
    language when not given), ``prompts`` is pbx_prompts ({name: {language: text}}).
    Returns [{file: <name>-<language>, voice, text}], prompt by prompt, each in the
    order of ``languages``.
    """
    out = []
    for name in names or []:
        for entry in languages or []:
            language = entry["language"]
            try:
                text = prompts[name][language]
            except (KeyError, TypeError) as exc:
                raise AnsibleFilterError(
                    f"teletreball_pbx_prompt_manifest: pbx_prompts has no text for "
                    f"{name} in {language}") from exc
            out.append({
                "file": f"{name}-{language}",
                "voice": entry.get("voice", language),
                "text": text,
            })
    return out


def _ip_network(text):
    """One address or CIDR network as a netaddr.IPNetwork; ValueError with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r} is not a text: write an address or a network in CIDR, "
                         "such as 10.0.0.0/8 or fc00::/7")
    text = text.strip()
    try:
        network = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise ValueError(f"'{text}' is not an IPv4 or IPv6 address or CIDR network") from exc
    if network.ip != network.network:
        raise ValueError(f"'{text}' has host bits set: write {network.cidr}")
    return network


def ip_range_errors(networks, name="the list"):
    """Problems of a list of addresses or CIDR networks, as sentences (empty: good)."""
    if netaddr is None:
        return ["the Python library netaddr is missing on the controller (requirements.txt)."]
    if not isinstance(networks, list):
        return [f"{name} must be a list of addresses or CIDR networks."]
    errors = []
    for index, text in enumerate(networks):
        try:
            _ip_network(text)
        except ValueError as exc:
            errors.append(f"{name}[{index}]: {exc}.")
    return errors


def _setting_problem(rule):
    """What is wrong with one setting (None when nothing), see setting_errors."""
    value = rule.get("value")
    items = value if isinstance(value, list) else [value]
    if "min_items" in rule and (not isinstance(value, list) or len(value) < rule["min_items"]):
        return "too few entries"
    if "int" in rule:
        low, high = rule["int"]
        text = str(value)
        if isinstance(value, bool) or not re.fullmatch(r"[0-9]+", text):
            return "not a whole number"
        if not low <= int(text) <= high:
            return f"out of {low}..{high}"
    if "match" in rule:
        pattern = re.compile(rule["match"])
        if any(not isinstance(item, str) or not pattern.match(item) for item in items):
            return "not of that form"
    if "keys_match" in rule:
        pattern = re.compile(rule["keys_match"])
        if not isinstance(value, dict) or any(not pattern.match(str(key)) for key in value):
            return "not of that form"
    if rule.get("networks"):
        problems = ip_range_errors(value, rule["name"])
        if problems:
            return " ".join(problems)
    return None


def setting_errors(rules):
    """The problems of single settings, one sentence each naming the setting, what it
    must be and its value (empty: every setting is good).

    Each rule is {name, value, why} and its checks: ``int: [min, max]`` (a whole number
    in that range), ``match: regex`` (the text, or each text of a list, matches from its
    start), ``keys_match: regex`` (each key of a mapping), ``networks: true`` (addresses
    or CIDR networks without host bits), ``min_items: n`` (a list of at least n entries).
    The roles' preflights check with it what meta/argument_specs.yml cannot say (ranges,
    forms); the types are checked there."""
    errors = []
    for rule in rules:
        problem = _setting_problem(rule)
        if problem is not None:
            errors.append(f"{rule['name']} must be {rule['why']} ({problem}); "
                          f"it is {rule.get('value')!r}.")
    return errors


def repeated(items):
    """The items that occur more than once, each once, in the order of their first
    occurrence."""
    seen, out = set(), []
    for item in items:
        if item in seen and item not in out:
            out.append(item)
        seen.add(item)
    return out


def ip_ranges(networks):
    """Addresses or CIDR networks as the ranges coturn reads: 'first-last'.

    coturn's denied-peer-ip and allowed-peer-ip take one address or a range
    'first-last', not CIDR. A network of one address is written as that
    address. IPv6 addresses are written in their compressed form.
    """
    if netaddr is None:
        raise AnsibleFilterError(
            "teletreball_ip_ranges: the Python library netaddr is missing on the controller")
    if not isinstance(networks, list):
        raise AnsibleFilterError(
            "teletreball_ip_ranges: expects a list of addresses or CIDR networks")
    ranges = []
    for text in networks:
        try:
            network = _ip_network(text)
        except ValueError as exc:
            raise AnsibleFilterError(f"teletreball_ip_ranges: {exc}") from exc
        first = netaddr.IPAddress(network.first, network.version)
        last = netaddr.IPAddress(network.last, network.version)
        ranges.append(str(first) if first == last else f"{first}-{last}")
    return ranges


def debs_to_publish(paths, architecture, exclude=()):
    """The .deb files among ``paths`` that the council's repository publishes: those
    of ``architecture`` or ``all``, minus the names in ``exclude`` and the debug
    symbols (-dbgsym), as [{name, version, file, path}] sorted by file name.
    Files not named ``<name>_<version>_<arch>.deb`` are left out."""
    if isinstance(paths, str) or not isinstance(paths, (list, tuple)):
        raise AnsibleFilterError("teletreball_debs_to_publish: expects a list of .deb paths")
    out = []
    for path in sorted(paths, key=lambda p: str(p).rsplit("/", 1)[-1]):
        name = str(path).rsplit("/", 1)[-1]
        parts = name[:-len(".deb")].split("_") if name.endswith(".deb") else []
        if len(parts) != 3 or parts[2] not in (architecture, "all"):
            continue
        if parts[0] in exclude or parts[0].endswith("-dbgsym"):
            continue
        out.append({"name": parts[0], "version": parts[1], "file": name, "path": str(path)})
    return out


def ca_certificate_files(certificates, folder):
    """The files of teletreball_files for baseline_extra_ca_certificates: one
    <folder>/<name>.crt each (0644, its PEM text with one final newline), checked by
    openssl before it is installed, with the label ca_certificates."""
    return [
        {
            "dest": f"{folder}/{item['name']}.crt",
            "content": item["content"].strip() + "\n",
            "mode": "0644",
            "validate": "openssl x509 -noout -in %s",
            "notify": "ca_certificates",
        }
        for item in certificates
    ]


class FilterModule:
    """teletreball filters."""

    def filters(self):
        return {
            "teletreball_vpn_devices": vpn_devices,
            "teletreball_vpn_access_rules": vpn_access_rules,
            "teletreball_totp_uri": totp_uri,
            "teletreball_pbx_schedule_errors": pbx_schedule_errors,
            "teletreball_chat_rooms": chat_rooms,
            "teletreball_chat_accounts": chat_accounts,
            "teletreball_vdi_accounts": vdi_accounts,
            "teletreball_vdi_oath_users": vdi_oath_users,
            "teletreball_pbx_person_levels": pbx_person_levels,
            "teletreball_pbx_extension_collisions": pbx_extension_collisions,
            "teletreball_pbx_prompt_manifest": pbx_prompt_manifest,
            "teletreball_ip_ranges": ip_ranges,
            "teletreball_ip_range_errors": ip_range_errors,
            "teletreball_debs_to_publish": debs_to_publish,
            "teletreball_ca_certificate_files": ca_certificate_files,
            "teletreball_setting_errors": setting_errors,
            "teletreball_repeated": repeated,
        }
