"""Unit tests of module_utils/teletreball_directory.py: every rejection and the allocation."""

from __future__ import annotations

import copy
import datetime as dt
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "module_utils"))

import teletreball_directory as d  # noqa: E402

NOW = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)

VALID = {
    "staff": [
        {
            "username": "anna", "name": "Anna Puig", "email": "anna@ajuntament.example",
            "department": "OAC", "groups": ["oac_agents"], "extension": 2001,
            "mobile": "+34600111222", "vpn_devices": ["laptop", "phone"], "desktop": True,
        },
        {
            "username": "jordi", "name": "Jordi Vila", "email": "jordi@ajuntament.example",
            "department": "IT", "groups": ["it_admins"], "extension": "2002",
            "vpn_devices": ["laptop"], "desktop": False, "state": "present",
        },
        {
            "username": "marta", "name": "Marta Roca", "email": "marta@ajuntament.example",
            "department": "Alcaldia", "groups": ["govern"], "vpn_devices": [],
            "state": "absent",
        },
    ],
    "networks": {
        "office_lan": "10.20.0.0/22", "servers": "10.30.0.0/24", "vpn_pool": "10.99.0.0/24",
    },
    "groups": {"oac_agents": "OAC", "govern": "Govern", "it_admins": "IT"},
    "access": {
        "desktop": ["oac_agents", "govern"], "phone": ["oac_agents"],
        "chat": ["oac_agents", "govern", "it_admins"], "admin_ssh": ["it_admins"],
    },
    "services": {
        "desktop": {"networks": ["servers"], "tcp": [3389]},
        "phone": {"networks": ["servers"], "udp": [5060, "10000-20000"]},
        "chat": {"networks": ["servers"], "tcp": [5222]},
        "admin_ssh": {"networks": ["servers"], "tcp": [22]},
    },
    "extension_range": {"first": 2000, "last": 2999},
    "vpn_pool": "vpn_pool",
}


def run(**changes):
    data = copy.deepcopy(VALID)
    data.update(changes)
    return d.validate(**data)


def staff_with(index, **fields):
    staff = copy.deepcopy(VALID["staff"])
    staff[index].update(fields)
    return staff


def test_valid_directory_has_no_problem():
    assert run() == []


@pytest.mark.parametrize(
    ("staff", "message"),
    [
        (
            staff_with(1, username="anna"),
            "teletreball_staff[1] (anna): username 'anna' is already used by "
            "teletreball_staff[0].",
        ),
        (
            staff_with(1, extension=2001),
            "teletreball_staff[1] (jordi): extension 2001 is already used by "
            "teletreball_staff[0] (anna).",
        ),
        (
            staff_with(0, username="Anna"),
            "teletreball_staff[0] (Anna): username 'Anna' is invalid: use 1 to 32 "
            "characters, a lowercase letter first, then lowercase letters, digits, _ or -.",
        ),
        (
            staff_with(0, username="1anna"),
            "teletreball_staff[0] (1anna): username '1anna' is invalid: use 1 to 32 "
            "characters, a lowercase letter first, then lowercase letters, digits, _ or -.",
        ),
        (
            staff_with(0, username="root"),
            "teletreball_staff[0] (root): username 'root' is reserved for the system.",
        ),
        (
            staff_with(0, groups=["oac_agent"]),
            "teletreball_staff[0] (anna): unknown group 'oac_agent' (teletreball_groups "
            "has: govern, it_admins, oac_agents).",
        ),
        (
            staff_with(0, groups=[]),
            "teletreball_staff[0] (anna): groups must list at least one group.",
        ),
        (
            staff_with(0, email="anna.ajuntament.example"),
            "teletreball_staff[0] (anna): email 'anna.ajuntament.example' is not a valid "
            "e-mail address.",
        ),
        (
            staff_with(0, mobile="600 111 222"),
            "teletreball_staff[0] (anna): mobile '600 111 222' is not a phone number in "
            "international form (+ country code and number, digits only, e.g. +34600111222).",
        ),
        (
            staff_with(0, extension=3001),
            "teletreball_staff[0] (anna): extension 3001 is outside the numbering range "
            "2000-2999 (teletreball_extension_range).",
        ),
        (
            staff_with(0, extension="20a1"),
            "teletreball_staff[0] (anna): extension '20a1' must be 2 to 6 digits.",
        ),
        (
            staff_with(0, state="gone"),
            "teletreball_staff[0] (anna): state 'gone' must be present or absent.",
        ),
        (
            staff_with(0, name=""),
            "teletreball_staff[0] (anna): name is required.",
        ),
        (
            staff_with(0, desktop="yes"),
            "teletreball_staff[0] (anna): desktop must be true or false.",
        ),
        (
            staff_with(0, vpn_devices=["laptop", "laptop"]),
            "teletreball_staff[0] (anna): VPN device 'laptop' is listed twice.",
        ),
        (
            staff_with(0, vpn_devices=["Portàtil"]),
            "teletreball_staff[0] (anna): VPN device name 'Portàtil' is invalid: 1 to 24 "
            "lowercase letters, digits or -.",
        ),
        (
            staff_with(0, phone="2001"),
            "teletreball_staff[0] (anna): unknown field 'phone' (known: department, "
            "desktop, desktop_host, email, extension, follow_me, groups, id, mobile, name, state, "
            "username, vpn_devices).",
        ),
        (
            staff_with(0, follow_me="yes"),
            "teletreball_staff[0] (anna): follow_me must be true or false.",
        ),
        (
            staff_with(0, follow_me=True, mobile=None),
            "teletreball_staff[0] (anna): follow_me needs a mobile and an extension.",
        ),
    ],
)
def test_staff_rejections(staff, message):
    assert message in run(staff=staff)


@pytest.mark.parametrize(
    ("networks", "message"),
    [
        (
            {**VALID["networks"], "servers": "10.20.1.0/24"},
            "teletreball_networks: office_lan (10.20.0.0/22) and servers (10.20.1.0/24) "
            "overlap.",
        ),
        (
            {**VALID["networks"], "servers": "10.30.0.1/24"},
            "teletreball_networks.servers: '10.30.0.1/24' is not a network in CIDR notation "
            "with the host bits at zero (for example 10.20.0.0/24).",
        ),
        (
            {**VALID["networks"], "servers": "10.30.0.0/31"},
            "teletreball_networks.servers: 10.30.0.0/31 is too small (2 addresses; at least 4).",
        ),
        (
            {**VALID["networks"], "vpn_pool": "10.99.0.0/30"},
            "teletreball_networks.vpn_pool (10.99.0.0/30) is too small for the VPN: 3 devices "
            "and 0 quarantined addresses need 3 addresses, it has 1.",
        ),
    ],
)
def test_network_rejections(networks, message):
    assert message in run(networks=networks)


def test_pool_too_small_counts_quarantined_addresses():
    data = copy.deepcopy(VALID)
    data["networks"]["vpn_pool"] = "10.99.0.0/29"  # 5 usable addresses
    assert d.validate(**data, quarantined=2) == []
    assert (
        "teletreball_networks.vpn_pool (10.99.0.0/29) is too small for the VPN: 3 devices "
        "and 3 quarantined addresses need 6 addresses, it has 5."
    ) in d.validate(**data, quarantined=3)


def test_undefined_network_references():
    assert (
        "teletreball_vpn_pool: network 'vpn' is not defined in teletreball_networks."
        in run(vpn_pool="vpn")
    )
    services = {"desktop": {"networks": ["vdi"], "tcp": [3389]}}
    assert (
        "teletreball_services.desktop: network 'vdi' is not defined in teletreball_networks."
        in run(services=services)
    )


def test_access_rejections():
    errors = run(access={"desktop": ["govern", "alcaldia"], "fax": ["govern"]})
    assert "teletreball_access.desktop: unknown group 'alcaldia'." in errors
    assert (
        "teletreball_access: unknown service 'fax' (services: desktop, phone, chat, admin_ssh)."
        in errors
    )


def test_bad_ports_and_ranges():
    services = {"phone": {"networks": ["servers"], "udp": [0, "20000-10000", "5060"]}}
    errors = run(services=services)
    assert len([e for e in errors if "is not a port" in e]) == 2
    assert run(extension_range={"first": 3000, "last": 2000}) == [
        "teletreball_extension_range must be {first: N, last: M} with 10 <= N <= M <= 999999; "
        "it is {'first': 3000, 'last': 2000}."
    ]


def test_every_problem_is_reported_at_once():
    staff = staff_with(0, username="anna", email="x", extension=9999)
    staff[1]["username"] = "anna"
    assert len(run(staff=staff)) == 3


# --- allocation -----------------------------------------------------------------


def addresses(state):
    return {key: entry["address"] for key, entry in state["allocations"].items()}


def test_first_allocation_skips_network_and_gateway():
    state = d.allocate(None, "10.99.0.0/24", ["anna/laptop", "anna/phone"], NOW, 30)
    assert addresses(state) == {"anna/laptop": "10.99.0.2", "anna/phone": "10.99.0.3"}
    assert d.gateway_address("10.99.0.0/24") == "10.99.0.1"


def test_addresses_survive_insertions_before_and_removals():
    one = d.allocate(None, "10.99.0.0/24", ["anna/laptop", "jordi/laptop"], NOW, 30)
    # Someone is added at the top of the list, someone else is removed.
    two = d.allocate(one, "10.99.0.0/24", ["aaron/laptop", "jordi/laptop"], NOW, 30)
    assert addresses(two)["jordi/laptop"] == addresses(one)["jordi/laptop"]
    assert addresses(two)["aaron/laptop"] not in addresses(one).values()
    # Order of the input does not matter either.
    three = d.allocate(two, "10.99.0.0/24", ["jordi/laptop", "aaron/laptop"], NOW, 30)
    assert addresses(three) == addresses(two)


def test_freed_address_is_quarantined_then_reused():
    one = d.allocate(None, "10.99.0.0/24", ["anna/laptop"], NOW, 30)
    freed = addresses(one)["anna/laptop"]
    gone = d.allocate(one, "10.99.0.0/24", [], NOW, 30)
    assert gone["released"][freed]["device"] == "anna/laptop"
    later = NOW + dt.timedelta(days=29)
    newcomer = d.allocate(gone, "10.99.0.0/24", ["pau/laptop"], later, 30)
    assert addresses(newcomer)["pau/laptop"] != freed
    after = NOW + dt.timedelta(days=30)
    reuse = d.allocate(gone, "10.99.0.0/24", ["pau/laptop"], after, 30)
    assert addresses(reuse)["pau/laptop"] == freed
    assert reuse["released"] == {}


def test_returning_device_gets_its_quarantined_address_back():
    one = d.allocate(None, "10.99.0.0/24", ["anna/laptop", "jordi/laptop"], NOW, 30)
    gone = d.allocate(one, "10.99.0.0/24", ["jordi/laptop"], NOW, 30)
    back = d.allocate(gone, "10.99.0.0/24", ["anna/laptop", "jordi/laptop"], NOW, 30)
    assert addresses(back) == addresses(one)


def test_count_quarantined_ignores_expired_and_returning():
    one = d.allocate(None, "10.99.0.0/24", ["a/x", "b/x"], NOW, 30)
    gone = d.allocate(one, "10.99.0.0/24", [], NOW, 30)
    assert d.count_quarantined(gone, NOW, 30) == 2
    assert d.count_quarantined(gone, NOW, 30, keep=["a/x"]) == 1
    assert d.count_quarantined(gone, NOW + dt.timedelta(days=31), 30) == 0


def test_full_pool_raises():
    with pytest.raises(d.AllocationError, match="no free address for f/x"):
        d.allocate(None, "10.99.0.0/29", ["a/x", "b/x", "c/x", "d/x", "e/x", "f/x"], NOW, 30)


def test_shrunk_pool_is_refused_with_the_devices_named():
    one = d.allocate(None, "10.99.0.0/24", [f"u{i}/x" for i in range(10)], NOW, 30)
    with pytest.raises(d.AllocationError, match=r"u9/x \(10.99.0.11\)"):
        d.allocate(one, "10.99.0.0/29", [f"u{i}/x" for i in range(10)], NOW, 30)


def test_grown_pool_keeps_addresses():
    one = d.allocate(None, "10.99.0.0/24", ["a/x", "b/x"], NOW, 30)
    two = d.allocate(one, "10.99.0.0/22", ["a/x", "b/x", "c/x"], NOW, 30)
    assert addresses(two)["a/x"] == addresses(one)["a/x"]
    assert two["pool"] == "10.99.0.0/22"


def test_unknown_state_version_is_refused():
    with pytest.raises(d.AllocationError, match="version 7"):
        d.allocate({"version": 7}, "10.99.0.0/24", [], NOW, 30)


def test_directory_grants_services_by_group_and_drops_absent_devices():
    staff = copy.deepcopy(VALID["staff"])
    state = d.allocate(None, "10.99.0.0/24", d.active_devices(staff), NOW, 30)
    directory = d.build_directory(staff, VALID["access"], state)
    anna, jordi, marta = directory["people"]
    assert anna["services"] == ["desktop", "phone", "chat"]
    assert jordi["services"] == ["chat", "admin_ssh"]
    assert jordi["desktop"] is False  # not granted by the access matrix
    assert marta["services"] == [] and marta["vpn_devices"] == []
    assert directory["absent"] == ["marta"]
    assert anna["extension"] == "2001"


def test_offboarded_people_free_their_extension():
    staff = staff_with(2, extension=2001)  # marta is absent
    assert run(staff=staff) == []


def test_ipv6_networks_are_refused_for_now():
    networks = {**VALID["networks"], "servers": "2001:db8::/64"}
    assert (
        "teletreball_networks.servers: 2001:db8::/64 is an IPv6 network; teletreball "
        "supports IPv4 networks only for now."
    ) in run(networks=networks)


def test_granted_service_must_be_described():
    services = {k: v for k, v in VALID["services"].items() if k != "chat"}
    assert run(services=services) == [
        "teletreball_access.chat: the service is granted but not described in "
        "teletreball_services (its networks and ports)."
    ]


def test_only_ascii_digits_and_no_trailing_newline():
    services = {**VALID["services"], "chat": {"networks": ["servers"], "tcp": ["\u0661\u0662"]}}
    assert len([e for e in run(services=services) if "is not a port" in e]) == 1
    assert any("is invalid" in e for e in run(staff=staff_with(0, username="anna\n")))


def test_shrunk_pool_refuses_addresses_that_become_reserved():
    one = d.allocate(None, "10.99.0.0/23", ["a/x"], NOW, 30)
    one["allocations"]["a/x"]["address"] = "10.99.1.1"  # gateway of 10.99.1.0/24
    with pytest.raises(d.AllocationError, match=r"a/x \(10.99.1.1\)"):
        d.allocate(one, "10.99.1.0/24", ["a/x"], NOW, 30)
    one["allocations"]["a/x"]["address"] = "10.99.1.255"  # its broadcast address
    with pytest.raises(d.AllocationError, match="broadcast"):
        d.allocate(one, "10.99.1.0/24", ["a/x"], NOW, 30)


def test_absent_people_have_no_desktop():
    staff = staff_with(2, desktop=True)
    state = d.allocate(None, "10.99.0.0/24", d.active_devices(staff), NOW, 30)
    assert d.build_directory(staff, VALID["access"], state)["people"][2]["desktop"] is False


HOSTS = ["vdi-b", "vdi-a"]


def test_desktop_host_must_be_a_session_host():
    assert run(staff=staff_with(0, desktop_host="vdi-z"), desktop_hosts=HOSTS) == [
        "teletreball_staff[0] (anna): desktop_host 'vdi-z' is not a remote-desktop "
        "session host (known: vdi-b, vdi-a)."
    ]
    assert run(staff=staff_with(0, desktop_host="vdi-a")) == [
        "teletreball_staff[0] (anna): desktop_host 'vdi-a' is not a remote-desktop "
        "session host (known: none: the group vdi_hosts is empty)."
    ]
    assert run(staff=staff_with(1, desktop_host="vdi-a"), desktop_hosts=HOSTS) == [
        "teletreball_staff[1] (jordi): desktop_host is set but desktop is not true."
    ]
    assert run(staff=staff_with(0, desktop_host="vdi-a"), desktop_hosts=HOSTS) == []


def test_desktop_assignment_is_stable_and_moves_few_people():
    names = [f"user{i:03d}" for i in range(300)]
    two = {n: d.assign_desktop_host(n, ["vdi-a", "vdi-b"]) for n in names}
    # The order of the hosts in the inventory does not matter.
    assert two == {n: d.assign_desktop_host(n, ["vdi-b", "vdi-a"]) for n in names}
    assert 100 < sum(1 for h in two.values() if h == "vdi-a") < 200
    three = {n: d.assign_desktop_host(n, ["vdi-a", "vdi-b", "vdi-c"]) for n in names}
    moved = [n for n in names if two[n] != three[n]]
    # Only people the new host takes move; about a third of them.
    assert all(three[n] == "vdi-c" for n in moved)
    assert 60 < len(moved) < 140
    assert d.assign_desktop_host("anna", []) is None


def test_directory_gives_desktop_people_their_host():
    staff = staff_with(0, desktop_host="vdi-b")
    state = d.allocate(None, VALID["networks"]["vpn_pool"], d.active_devices(staff), NOW, 30)
    people = {
        p["username"]: p
        for p in d.build_directory(staff, VALID["access"], state, desktop_hosts=HOSTS)["people"]
    }
    assert people["anna"]["desktop_host"] == "vdi-b"
    assert people["jordi"]["desktop_host"] is None  # desktop: false
    assert people["marta"]["desktop_host"] is None  # absent
    default = d.build_directory(VALID["staff"], VALID["access"], state, desktop_hosts=HOSTS)
    assert default["people"][0]["desktop_host"] == d.assign_desktop_host("anna", HOSTS)


@pytest.mark.parametrize("field", ["name", "department"])
@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("OAC\n[x]\ntype = endpoint", "U+000A"),  # a new section of pjsip.conf
        ("Anna\r\nPuig", "U+000D"),
        ("Anna\tPuig", "U+0009"),
        ("Anna\x00Puig", "U+0000"),
        ("Anna\x1b[31mPuig", "U+001B"),
        ("Anna\x85Puig", "U+0085"),  # next line (C1)
        ("Anna\u2028Puig", "U+2028"),  # line separator
        ("Anna\u2029Puig", "U+2029"),  # paragraph separator
        ("Anna \u202egiuP", "U+202E"),  # right-to-left override
        ("Anna\u200bPuig", "U+200B"),  # zero width space
        ("Anna\ufeffPuig", "U+FEFF"),
        ("Anna\ue000Puig", "U+E000"),  # private use
        ("Anna\U000e0001Puig", "U+E0001"),  # language tag
    ],
)
def test_control_and_invisible_characters_are_refused_naming_person_and_field(field, value, code):
    problems = run(staff=staff_with(0, **{field: value}))
    prefix = f"teletreball_staff[0] (anna): {field} holds {code} "
    mine = [p for p in problems if p.startswith(prefix)]
    assert len(mine) == 1, problems
    assert "refused" in mine[0]


@pytest.mark.parametrize(
    ("name", "department"),
    [
        ("Núria D'Amat i Pérez-Soler", "Atenció Ciutadana, OAC"),
        ("Jordi \"Txell\" Vidal; Mas", "Urbanisme, Obres i Serveis"),
        ("Maria-Àngels Çòdol Ïñiguez", "Alcaldia"),
    ],
)
def test_real_names_with_accents_apostrophes_and_commas_pass(name, department):
    assert run(staff=staff_with(0, name=name, department=department)) == []


# --- extensions in quarantine and identities (issue 18 D) ----------------------

def people(*rows):
    """Staff rows (username, email, extension, state) as the directory has them."""
    return [
        {"username": u, "name": u.title(), "email": e, "department": "OAC",
         "groups": ["oac_agents"], "extension": x, "state": s}
        for u, e, x, s in rows
    ]


ANNA = ("anna", "anna@ajuntament.example", "2001", "present")
JORDI = ("jordi", "jordi@ajuntament.example", "2002", "present")


def held(staff, state=None, when=NOW, days=30):
    return d.hold_extensions(state, d.extension_holders(staff), when, days)


def test_offboarded_extension_is_quarantined_and_refused_to_somebody_else():
    first, _ = held(people(ANNA, JORDI))
    gone, conflicts = held(people(ANNA[:3] + ("absent",), JORDI), {"extensions": first})
    assert conflicts == [] and "2001" not in gone["held"]
    assert gone["released"]["2001"]["username"] == "anna"
    later = NOW + dt.timedelta(days=10)
    newcomer = ("pau", "pau@ajuntament.example", "2001", "present")
    staff = people(ANNA[:3] + ("absent",), JORDI, newcomer)
    record, conflicts = held(staff, {"extensions": gone}, later)
    assert conflicts == [{"extension": "2001", "username": "pau", "previous": "anna",
                          "released_at": "2026-11-01", "free_on": "2026-12-01"}]
    assert "2001" not in record["held"] and "2001" in record["released"]
    (message,) = d.extension_problems(staff, conflicts, 30)
    assert message.startswith("teletreball_staff[2] (pau): extension 2001 is in quarantine "
                              "until 2026-12-01: it was anna's until 2026-11-01")
    assert "teletreball_extension_quarantine_days" in message


def test_a_person_deleted_from_the_directory_also_quarantines_her_extension():
    first, _ = held(people(ANNA))
    _, conflicts = held(people(("pau", "pau@ajuntament.example", "2001", "present")),
                        {"extensions": first}, NOW + dt.timedelta(days=1))
    assert [c["previous"] for c in conflicts] == ["anna"]


def test_the_extension_is_free_after_the_quarantine_or_at_once_with_zero_days():
    first, _ = held(people(ANNA))
    gone, _ = held([], {"extensions": first})
    pau = people(("pau", "pau@ajuntament.example", "2001", "present"))
    record, conflicts = held(pau, {"extensions": gone}, NOW + dt.timedelta(days=30))
    assert conflicts == [] and record["held"]["2001"]["username"] == "pau"
    assert record["released"] == {}
    gone0, _ = held([], {"extensions": first}, days=0)
    assert gone0 == {"held": {}, "released": {}}
    assert held(pau, {"extensions": gone0}, days=0)[1] == []


def test_the_previous_holder_gets_her_extension_back_even_under_a_new_username():
    first, _ = held(people(ANNA))
    gone, _ = held([], {"extensions": first})
    back = people(("anna-puig", "Anna@Ajuntament.example", "2001", "present"))
    record, conflicts = held(back, {"extensions": gone}, NOW + dt.timedelta(days=3))
    assert conflicts == [] and record["released"] == {}
    assert record["held"]["2001"]["username"] == "anna-puig"


def test_a_username_given_to_another_person_cannot_keep_the_extension():
    first, _ = held(people(ANNA))
    other = people(("anna", "anna.vidal@ajuntament.example", "2001", "present"))
    _, conflicts = held(other, {"extensions": first}, NOW + dt.timedelta(hours=1))
    assert [(c["username"], c["previous"]) for c in conflicts] == [("anna", "anna")]


def test_a_changed_extension_quarantines_the_old_one():
    first, _ = held(people(ANNA))
    moved, conflicts = held(people(("anna",) + ANNA[1:2] + ("2005", "present")),
                            {"extensions": first})
    assert conflicts == [] and list(moved["held"]) == ["2005"]
    assert list(moved["released"]) == ["2001"]


def test_identity_is_the_id_else_the_email_in_lowercase():
    anna = {"username": "anna", "email": "Anna@Ajuntament.example"}
    assert d.identity_key(anna) == "email:anna@ajuntament.example"
    assert d.identity_key(dict(anna, id=4711)) == "id:4711"
    assert d.identity(dict(anna, id="E-4711")) != d.identity(anna)
    assert len(d.identity(anna)) == 32 and "anna" not in d.identity(anna)


def test_record_identities_finds_a_username_given_to_another_person():
    staff = people(ANNA, JORDI)
    recorded, reused = d.record_identities(None, staff, NOW)
    assert reused == [] and set(recorded) == {"anna", "jordi"}
    # anna leaves and is deleted from the directory; the record stays.
    after, reused = d.record_identities({"people": recorded}, people(JORDI), NOW)
    assert reused == [] and after == recorded
    other = people(("anna", "anna.vidal@ajuntament.example", None, "present"), JORDI)
    again, reused = d.record_identities({"people": after}, other, NOW)
    assert reused == ["anna"]
    assert again["anna"]["identity"] == d.identity(other[0])
    # The same person under an explicit id: a changed e-mail is no new person.
    with_id = [dict(p, id="E-1") for p in other[:1]]
    first, _ = d.record_identities(None, with_id, NOW)
    moved = [dict(with_id[0], email="a.vidal@ajuntament.example")]
    assert d.record_identities({"people": first}, moved, NOW)[1] == []


def test_a_version_1_state_file_is_migrated():
    old = {"version": 1, "pool": "10.99.0.0/24", "allocations": {}, "released": {}}
    state = d.allocate(old, "10.99.0.0/24", ["anna/laptop"], NOW, 30)
    assert state["version"] == 2
    assert state["extensions"] == {"held": {}, "released": {}} and state["people"] == {}
    with pytest.raises(d.AllocationError, match="version 3"):
        d.migrate_state({"version": 3})


@pytest.mark.parametrize(("ident", "message"), [
    ("", "id '' is invalid"),
    ("has space", "id 'has space' is invalid"),
    (True, "id 'True' is invalid"),
    (["E-1"], "is invalid"),
])
def test_invalid_ids_are_refused(ident, message):
    errors = run(staff=staff_with(0, id=ident))
    assert any(e.startswith("teletreball_staff[0] (anna): ") and message in e for e in errors)


def test_two_present_people_may_not_share_an_identity():
    staff = staff_with(1, email="ANNA@ajuntament.example")
    assert run(staff=staff) == [
        "teletreball_staff[1] (jordi): email 'anna@ajuntament.example' already identifies "
        "teletreball_staff[0] (anna); each present person needs her own identity (give "
        "people who share an e-mail address an explicit id)."
    ]
    staff[1]["id"] = "E-2"
    assert run(staff=staff) == []
    # An absent entry of the same person (a new username) is no conflict.
    assert run(staff=staff_with(2, email="anna@ajuntament.example")) == []


def test_a_username_given_to_another_person_gets_new_vpn_addresses():
    one = d.allocate(None, "10.99.0.0/24", ["anna/laptop", "jordi/laptop"], NOW, 30)
    # While present, and after leaving (her address in quarantine): never hers.
    for state in (one, d.allocate(one, "10.99.0.0/24", ["jordi/laptop"], NOW, 30)):
        two = d.allocate(state, "10.99.0.0/24", ["anna/laptop", "jordi/laptop"], NOW, 30,
                         reused=["anna"])
        assert addresses(two) == {"anna/laptop": "10.99.0.4", "jordi/laptop": "10.99.0.3"}
        assert two["released"]["10.99.0.2"]["device"] == "anna/laptop"
