"""Unit tests of filter_plugins/teletreball_filters.py."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest
from ansible.errors import AnsibleFilterError

REPO = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "teletreball_filters", REPO / "filter_plugins" / "teletreball_filters.py")
filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(filters)

DIRECTORY = {
    "people": [
        {"username": "anna", "state": "present", "services": ["desktop", "chat"],
         "vpn_devices": [{"name": "laptop", "address": "10.99.0.2"},
                         {"name": "mobil", "address": "10.99.0.3"}]},
        {"username": "pau", "state": "present", "services": ["chat"],
         "vpn_devices": [{"name": "laptop", "address": "10.99.0.4"}]},
        {"username": "old", "state": "absent", "services": [], "vpn_devices": []},
    ],
}
SERVICES = {
    "desktop": {"networks": ["servers"], "tcp": [3389]},
    "phone": {"networks": ["servers"], "udp": [5060, "10000-20000"]},
    "chat": {"networks": ["dmz", "servers"], "tcp": [5222]},
}
NETWORKS = {"servers": "10.20.30.0/24", "dmz": "192.0.2.0/28"}


def test_vpn_devices_lists_present_devices():
    assert filters.vpn_devices(DIRECTORY) == [
        {"username": "anna", "device": "laptop", "address": "10.99.0.2"},
        {"username": "anna", "device": "mobil", "address": "10.99.0.3"},
        {"username": "pau", "device": "laptop", "address": "10.99.0.4"},
    ]


def test_vpn_access_rules_group_devices_per_service():
    assert filters.vpn_access_rules(DIRECTORY, SERVICES, NETWORKS) == [
        {"service": "desktop", "sources": ["10.99.0.2", "10.99.0.3"],
         "destinations": ["10.20.30.0/24"], "tcp": ["3389"], "udp": []},
        {"service": "chat", "sources": ["10.99.0.2", "10.99.0.3", "10.99.0.4"],
         "destinations": ["192.0.2.0/28", "10.20.30.0/24"], "tcp": ["5222"], "udp": []},
    ]


def test_missing_directory_is_a_clear_error():
    with pytest.raises(AnsibleFilterError, match="run playbooks/preflight.yml first"):
        filters.vpn_devices({})


def test_unknown_network_is_a_clear_error():
    with pytest.raises(AnsibleFilterError, match="service desktop: unknown network 'servers'"):
        filters.vpn_access_rules(DIRECTORY, SERVICES, {})


def test_totp_uri_is_base32_and_quoted():
    # RFC 6238's test secret "12345678901234567890" in hex.
    secret = "3132333435363738393031323334353637383930"  # noqa: S105 - public test vector
    uri = filters.totp_uri(secret, "anna@ajuntament.example", "Ajuntament de Sant Martí")
    assert uri == (
        "otpauth://totp/Ajuntament%20de%20Sant%20Mart%C3%AD:anna@ajuntament.example"
        "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Ajuntament%20de%20Sant%20Mart%C3%AD"
        "&algorithm=SHA1&digits=6&period=30"
    )


@pytest.mark.parametrize(
    ("secret", "digits", "message"),
    [
        ("zz" * 20, 6, "not hexadecimal"),
        ("ab" * 10, 6, "shorter than 128 bits"),
        ("ab" * 20, 7, "digits must be 6 or 8"),
    ],
)
def test_totp_uri_refuses_bad_secrets(secret, digits, message):
    with pytest.raises(AnsibleFilterError, match=message):
        filters.totp_uri(secret, "anna", "Ajuntament", digits=digits)


# --- PBX inbound routing data -------------------------------------------------

def _schedule(office_hours=None, holidays=None, inbound=None, queue="oac"):
    return filters.pbx_schedule_errors(
        {"mon": [{"from": "08:00", "to": "14:30"}]} if office_hours is None else office_hours,
        [] if holidays is None else holidays,
        [{"number": "938000000", "to": "ivr"}] if inbound is None else inbound,
        queue,
    )


def test_pbx_schedule_good_data_has_no_problem():
    assert _schedule(
        office_hours={"mon": [{"from": "08:00", "to": "14:30"},
                              {"from": "16:00", "to": "24:00"}]},
        holidays=[{"date": "2026-12-25", "name": "Nadal"}],
        inbound=[{"number": "938000000", "to": "ivr"},
                 {"number": "+34938000001", "to": "queue", "queue": "oac"}],
    ) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"office_hours": {"mon": [{"from": "08:00", "to": "14:00"},
                                  {"from": "13:30", "to": "15:00"}]}},
         "pbx_office_hours.mon: 08:00-14:00 and 13:30-15:00 overlap."),
        ({"office_hours": {"mon": [{"from": "15:00", "to": "08:00"}]}},
         "pbx_office_hours.mon[0]: 15:00-08:00 ends before it starts."),
        ({"office_hours": {"mon": [{"from": "8h", "to": "14:00"}]}},
         "pbx_office_hours.mon[0]: '8h' is not a time HH:MM (00:00 to 24:00)."),
        ({"office_hours": {"dilluns": []}},
         "pbx_office_hours.dilluns: 'dilluns' is not a weekday"),
        ({"holidays": [{"date": "2026-02-30", "name": "Mai"}]},
         "pbx_holidays[0] (Mai): '2026-02-30' is not a date YYYY-MM-DD."),
        ({"holidays": [{"date": "2026-12-25", "name": "Nadal"},
                       {"date": "2026-12-25", "name": "Altre"}]},
         "pbx_holidays[1] (Altre): 2026-12-25 is already Nadal."),
        ({"inbound": [{"number": "938000000", "to": "queue", "queue": "urbanisme"}]},
         "pbx_inbound_numbers[0] (938000000): unknown queue 'urbanisme' "
         "(the PBX's queue is 'oac')."),
        ({"inbound": [{"number": "938000000", "to": "fax"}]},
         "pbx_inbound_numbers[0] (938000000): to 'fax' must be ivr or queue."),
        ({"inbound": [{"number": "938000000", "to": "ivr"},
                      {"number": "938000000", "to": "queue"}]},
         "pbx_inbound_numbers[1]: 938000000 is listed twice."),
    ],
)
def test_pbx_schedule_rejections(kwargs, message):
    assert any(message in problem for problem in _schedule(**kwargs))


def test_chat_rooms_members_from_groups_and_departments_admins_everywhere():
    people = [
        {"username": "mayor", "groups": ["govern"], "department": "Alcaldia"},
        {"username": "anna", "groups": ["oac_agents"], "department": "OAC"},
        {"username": "it", "groups": ["it_admins"], "department": "Informatica"},
    ]
    rooms = [
        {"name": "govern", "title": "Equip de govern", "groups": ["govern"]},
        {"name": "oac", "departments": ["OAC"]},
        {"name": "antiga", "state": "absent", "groups": ["govern"]},
    ]
    out = filters.chat_rooms(rooms, people, "d.test", "it_admins")
    assert out[0] == {"name": "govern", "title": "Equip de govern", "description": "",
                      "state": "present",
                      "affiliations": {"mayor@d.test": "member", "it@d.test": "admin"}}
    assert out[1]["title"] == "oac"
    assert out[1]["affiliations"] == {"anna@d.test": "member", "it@d.test": "admin"}
    assert out[2]["affiliations"] == {}, "an absent room gets no affiliations"


# ---------- the accounts of the service roles (vars/ of vdi and conference) ----------

SECRETS = {
    "people/anna/desktop-password": "123456",
    "people/anna/desktop-totp": "00112233445566778899aabbccddeeff",
    "people/anna/chat-password": "True",
    "people/pau/desktop-password": "pw of pau",
}
PEOPLE = [
    {"username": "anna", "name": "Anna Puig", "groups": ["govern"]},
    {"username": "pau", "name": "Pau O'Neill", "groups": []},
]


def test_vdi_accounts_in_order_with_name_and_password():
    assert filters.vdi_accounts(PEOPLE, SECRETS) == [
        {"username": "anna", "comment": "Anna Puig", "password": "123456"},
        {"username": "pau", "comment": "Pau O'Neill", "password": "pw of pau"},
    ]
    # The keys in the order the module's documentation gives them; a password
    # of digits stays text.
    first = filters.vdi_accounts(PEOPLE, SECRETS)[0]
    assert list(first) == ["username", "comment", "password"]
    assert isinstance(first["password"], str)


def test_vdi_accounts_without_name_or_secret_are_empty_texts():
    assert filters.vdi_accounts([{"username": "nova"}], SECRETS) == [
        {"username": "nova", "comment": "", "password": ""}]
    assert filters.vdi_accounts(PEOPLE, {})[1]["password"] == ""
    assert filters.vdi_accounts(PEOPLE, None)[0]["password"] == ""
    assert filters.vdi_accounts([], SECRETS) == []


def test_a_desktop_account_comment_keeps_to_its_gecos_field():
    person = {"username": "nuria", "name": "Pérez-Soler, Núria: OAC"}
    assert filters.vdi_accounts([person], SECRETS)[0]["comment"] == "Pérez-Soler  Núria  OAC"


def test_vdi_oath_users_take_the_totp_secret():
    assert filters.vdi_oath_users(PEOPLE, SECRETS) == [
        {"username": "anna", "secret": "00112233445566778899aabbccddeeff"},
        {"username": "pau", "secret": ""},
    ]
    assert filters.vdi_oath_users([], SECRETS) == []
    assert filters.vdi_oath_users(PEOPLE, None) == [
        {"username": "anna", "secret": ""}, {"username": "pau", "secret": ""}]


def test_chat_accounts_on_the_domain_with_the_chat_password():
    out = filters.chat_accounts(PEOPLE, SECRETS, "chat.test")
    assert out == [
        {"host": "chat.test", "username": "anna", "password": "True", "name": "Anna Puig"},
        {"host": "chat.test", "username": "pau", "password": "", "name": "Pau O'Neill"},
    ]
    assert list(out[0]) == ["host", "username", "password", "name"]
    assert filters.chat_accounts([], SECRETS, "chat.test") == []
    assert filters.chat_accounts([{"username": "nova"}], {}, "chat.test") == [
        {"host": "chat.test", "username": "nova", "password": "", "name": ""}]


# ---------- the PBX (vars/ of pbx) ----------

LEVELS = ["internal", "national", "mobile", "international"]
PERMISSIONS = {"oac_agents": "national", "govern": "international", "mobil": "mobile"}


def test_pbx_person_levels_take_the_widest_group():
    people = [
        {"username": "anna", "groups": ["oac_agents", "govern"]},
        {"username": "marta", "groups": ["mobil", "oac_agents"]},
        {"username": "pau", "groups": ["oac_agents"]},
    ]
    out = filters.pbx_person_levels(people, PERMISSIONS, LEVELS)
    assert out == {"anna": "international", "marta": "mobile", "pau": "national"}
    assert list(out) == ["anna", "marta", "pau"]


def test_pbx_person_levels_default_to_the_narrowest():
    people = [
        {"username": "nogroups", "groups": []},
        {"username": "nokey"},
        {"username": "unmapped", "groups": ["culture"]},
        {"username": "internal", "groups": ["culture", "desk"]},
    ]
    assert filters.pbx_person_levels(people, {"desk": "internal"}, LEVELS) == {
        "nogroups": "internal", "nokey": "internal", "unmapped": "internal",
        "internal": "internal"}
    assert filters.pbx_person_levels([], PERMISSIONS, LEVELS) == {}
    assert filters.pbx_person_levels([{"username": "a", "groups": ["govern"]}], {}, LEVELS) == {
        "a": "internal"}


def test_pbx_person_levels_refuse_an_unknown_level():
    with pytest.raises(AnsibleFilterError, match="group govern has the level 'world'"):
        filters.pbx_person_levels([{"username": "a", "groups": ["govern"]}],
                                  {"govern": "world"}, LEVELS)
    with pytest.raises(AnsibleFilterError, match="the list of levels is empty"):
        filters.pbx_person_levels([{"username": "a", "groups": []}], {}, [])


def test_pbx_prompt_manifest_every_prompt_in_every_language():
    languages = [{"key": "1", "language": "ca", "voice": "ca"},
                 {"key": "2", "language": "es"},
                 {"key": "3", "language": "en", "voice": "en-gb"}]
    prompts = {"welcome": {"ca": "Benvinguts", "es": "Bienvenidos", "en": "Welcome"},
               "closed": {"ca": "Tancat", "es": "Cerrado", "en": "Closed", "fr": "Fermé"}}
    out = filters.pbx_prompt_manifest(["welcome", "closed"], languages, prompts)
    assert out == [
        {"file": "welcome-ca", "voice": "ca", "text": "Benvinguts"},
        {"file": "welcome-es", "voice": "es", "text": "Bienvenidos"},
        {"file": "welcome-en", "voice": "en-gb", "text": "Welcome"},
        {"file": "closed-ca", "voice": "ca", "text": "Tancat"},
        {"file": "closed-es", "voice": "es", "text": "Cerrado"},
        {"file": "closed-en", "voice": "en-gb", "text": "Closed"},
    ]
    assert list(out[0]) == ["file", "voice", "text"]


def test_pbx_prompt_manifest_edges():
    prompts = {"welcome": {"ca": "Benvinguts"}}
    assert filters.pbx_prompt_manifest([], [{"key": "1", "language": "ca"}], prompts) == []
    assert filters.pbx_prompt_manifest(["welcome"], [], prompts) == []
    with pytest.raises(AnsibleFilterError, match="no text for welcome in es"):
        filters.pbx_prompt_manifest(["welcome"], [{"key": "2", "language": "es"}], prompts)
    with pytest.raises(AnsibleFilterError, match="no text for queue in ca"):
        filters.pbx_prompt_manifest(["queue"], [{"key": "1", "language": "ca"}], prompts)


def test_every_filter_the_roles_use_is_registered():
    used = set()
    for folder in ("roles", "playbooks", "molecule"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".yml", ".j2"):
                used.update(re.findall(r"\|\s*(teletreball_[a-z0-9_]+)", path.read_text()))
    assert {"teletreball_vdi_accounts", "teletreball_vdi_oath_users",
            "teletreball_chat_accounts", "teletreball_pbx_person_levels",
            "teletreball_pbx_prompt_manifest"} <= used
    registered = set()
    for path in (REPO / "filter_plugins").glob("*.py"):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        plugin = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(plugin)
        registered.update(plugin.FilterModule().filters())
    assert used - registered == set()


# ---------- teletreball_ip_ranges: coturn's peer ranges from CIDR ----------

def test_ip_ranges_turn_cidr_into_first_last():
    assert filters.ip_ranges([
        "10.0.0.0/8", "100.64.0.0/10", "0.0.0.0/8", "240.0.0.0/4", "192.0.2.7/32", "10.89.60.40",
    ]) == [
        "10.0.0.0-10.255.255.255", "100.64.0.0-100.127.255.255", "0.0.0.0-0.255.255.255",
        "240.0.0.0-255.255.255.255", "192.0.2.7", "10.89.60.40",
    ]


def test_ip_ranges_write_ipv6_compressed():
    assert filters.ip_ranges(["fc00::/7", "::1/128", "::/128", "fe80::/10", "64:ff9b:1::/48"]) == [
        "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1", "::",
        "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "64:ff9b:1::-64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
    ]


def test_ip_ranges_of_an_empty_list_is_empty():
    assert filters.ip_ranges([]) == []


@pytest.mark.parametrize(("networks", "message"), [
    ("10.0.0.0/8", "expects a list"),
    (["10.0.0.1/8"], "'10.0.0.1/8' has host bits set: write 10.0.0.0/8"),
    (["fc00::1/7"], "has host bits set: write fc00::/7"),
    (["10.0.0.0/33"], "'10.0.0.0/33' is not an IPv4 or IPv6 address or CIDR network"),
    (["10.0"], "'10.0' is not an IPv4 or IPv6"),
    (["turn.example"], "is not an IPv4 or IPv6"),
    ([""], "is not a text"),
    ([None], "is not a text"),
    ([8], "is not a text"),
])
def test_ip_ranges_refuse_what_is_not_cidr(networks, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        filters.ip_ranges(networks)


def test_ip_range_errors_name_every_bad_entry():
    assert filters.ip_range_errors(["10.0.0.0/8", "10.0.0.1/8", "nonsense"], "peers") == [
        "peers[1]: '10.0.0.1/8' has host bits set: write 10.0.0.0/8.",
        "peers[2]: 'nonsense' is not an IPv4 or IPv6 address or CIDR network.",
    ]
    assert filters.ip_range_errors(["::ffff:0:0/96", "2001:db8::/32"], "peers") == []
    assert filters.ip_range_errors("10.0.0.0/8", "peers") == [
        "peers must be a list of addresses or CIDR networks."]


def test_ip_filters_without_netaddr_say_so(monkeypatch):
    monkeypatch.setattr(filters, "netaddr", None)
    with pytest.raises(AnsibleFilterError, match="netaddr is missing"):
        filters.ip_ranges(["10.0.0.0/8"])
    assert filters.ip_range_errors(["10.0.0.0/8"]) == [
        "the Python library netaddr is missing on the controller (requirements.txt)."]


def test_ca_certificate_files_one_checked_file_each_with_one_final_newline():
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    assert filters.ca_certificate_files([{"name": "proxy", "content": f"\n{pem}\n\n"}],
                                        "/usr/local/share/ca-certificates/teletreball") == [{
        "dest": "/usr/local/share/ca-certificates/teletreball/proxy.crt",
        "content": pem + "\n",
        "mode": "0644",
        "validate": "openssl x509 -noout -in %s",
        "notify": "ca_certificates",
    }]
    assert filters.ca_certificate_files([], "/x") == []


def test_setting_errors_name_the_setting_its_rule_and_its_value():
    rules = [
        {"name": "port", "value": 22, "int": [1, 65535], "why": "a TCP port"},
        {"name": "port_text", "value": "2222", "int": [1, 65535], "why": "a TCP port"},
        {"name": "tries", "value": 9, "int": [1, 4], "why": "1 to 4 (CIS 5.1.16)"},
        {"name": "flag", "value": True, "int": [0, 1], "why": "a number"},
        {"name": "size", "value": "2G", "match": "^[0-9]+[KMGT]?$", "why": "a size"},
        {"name": "size2", "value": "lots", "match": "^[0-9]+[KMGT]?$", "why": "a size"},
        {"name": "servers", "value": ["a.es", "b c"], "match": "^[A-Za-z0-9.:-]+$",
         "min_items": 1, "why": "NTP server names"},
        {"name": "none", "value": [], "min_items": 1, "why": "at least one name"},
        {"name": "sysctl", "value": {"net.x": 1, "Bad Key": 2}, "keys_match": "^[a-z0-9_.-]+$",
         "why": "sysctl keys"},
        {"name": "nets", "value": ["10.0.0.0/8", "10.0.0.1/8"], "networks": True,
         "why": "CIDR networks"},
        {"name": "nets_ok", "value": ["10.0.0.0/8"], "networks": True, "why": "CIDR networks"},
    ]
    assert filters.setting_errors(rules) == [
        "tries must be 1 to 4 (CIS 5.1.16) (out of 1..4); it is 9.",
        "flag must be a number (not a whole number); it is True.",
        "size2 must be a size (not of that form); it is 'lots'.",
        "servers must be NTP server names (not of that form); it is ['a.es', 'b c'].",
        "none must be at least one name (too few entries); it is [].",
        "sysctl must be sysctl keys (not of that form); it is {'net.x': 1, 'Bad Key': 2}.",
        "nets must be CIDR networks (nets[1]: '10.0.0.1/8' has host bits set: write "
        "10.0.0.0/8.); it is ['10.0.0.0/8', '10.0.0.1/8'].",
    ]
    assert filters.setting_errors([]) == []


def test_repeated_lists_each_repeated_item_once_in_order():
    assert filters.repeated(["a", "b", "a", "c", "b", "a"]) == ["a", "b"]
    assert filters.repeated(["a", "b"]) == []


def test_setting_rule_for_the_credentials_folder_refuses_relative_and_dot_dot():
    rule = {"name": "dir", "why": "absolute", "match": r"^/(?!(?:.*/)?\.\.(?:/|$))"}
    good = ["/srv/teletreball/credentials/lab", "/a/..b/c", "/a/b.."]
    bad = ["credentials/lab", "/srv/../etc", "/..", "/a/..", ""]
    assert filters.setting_errors([dict(rule, value=value) for value in good]) == []
    assert len(filters.setting_errors([dict(rule, value=value) for value in bad])) == len(bad)


EMERGENCY = ["112", "091", "092", "062", "061"]
FEATURE_CODES = {"queue_login": "*61", "voicemail": "*98", "operator": "9"}
OUTBOUND = {"national": ["_[89]XXXXXXXX"], "mobile": ["_[67]XXXXXXXX"],
            "international": ["_00X."]}


def collisions(staff, inbound=()):
    return filters.pbx_extension_collisions(staff, EMERGENCY, "900", FEATURE_CODES,
                                            list(inbound), OUTBOUND)


@pytest.mark.parametrize(
    ("extension", "part"),
    [
        (112, "extension 112 is the emergency number 112 (pbx_emergency_numbers)"),
        ("091", "extension 091 is the emergency number 091"),
        ("900", "extension 900 is the OAC mailbox (pbx_oac_mailbox)"),
        (9, "extension 9 is the feature code operator (pbx_feature_codes)"),
        ("0034", "matches the outbound pattern _00X. (international, pbx_outbound_patterns)"),
        ("812345678", "matches the outbound pattern _[89]XXXXXXXX (national"),
    ],
)
def test_an_extension_that_shadows_a_number_of_the_dial_plan_is_named(extension, part):
    staff = [{"username": "anna", "extension": 2001},
             {"username": "pau", "extension": extension}]
    problems = collisions(staff)
    assert len(problems) == 1 and problems[0].startswith("teletreball_staff[1] (pau): ")
    assert part in problems[0]


def test_inbound_numbers_absent_people_and_people_without_extension_are_handled():
    staff = [{"username": "anna", "extension": "934000000"},
             {"username": "old", "extension": 112, "state": "absent"},
             {"username": "pau"}]
    problems = collisions(staff, inbound=[{"number": "934000000", "to": "oac"}])
    assert problems == [
        "teletreball_staff[0] (anna): extension 934000000 is the inbound number 934000000 "
        "(pbx_inbound_numbers); choose another extension.",
        "teletreball_staff[0] (anna): extension 934000000 matches the outbound pattern "
        "_[89]XXXXXXXX (national, pbx_outbound_patterns): calls to it would ring the "
        "colleague instead; choose another extension."]
    assert collisions([{"username": "anna", "extension": 2001}]) == []


@pytest.mark.parametrize(
    ("pattern", "number", "matches"),
    [("_00X.", "0033", True), ("_00X.", "00", False), ("_[89]XXXXXXXX", "912345678", True),
     ("_[89]XXXXXXXX", "112", False), ("_NXX", "212", True), ("_NXX", "112", False),
     ("_zx", "10", True), ("_1!", "1", True), ("_[1-3]X", "45", False), ("112", "112", True),
     ("112", "1120", False)],
)
def test_asterisk_patterns_match_as_asterisk_matches_them(pattern, number, matches):
    assert bool(filters.asterisk_pattern_regex(pattern).fullmatch(number)) is matches
