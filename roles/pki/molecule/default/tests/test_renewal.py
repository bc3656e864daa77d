"""Renewal. Each test runs converge.yml again from the controller, the way
Molecule does, and checks what the role did: a certificate that no longer
verifies against the CA, one inside the renewal window and one whose request
changed are reissued (new serial, still verifying, same host key); a run with
the scenario's settings afterwards changes nothing."""

from __future__ import annotations

import pytest
from pki_helpers import (
    CA_COMMON_NAME,
    ISSUED,
    PKI_DIR,
    RENEW_DAYS_BEFORE,
    SERVER,
    VALIDITY_DAYS,
    converge,
    extra_vars,
    public_key_of_certificate,
    public_key_of_key,
    serial,
    verify,
)

testinfra_hosts = [SERVER]

LIMIT = ("--limit", "pki-server")
INSTALL_TASK = "pki : Install the certificates"


def sans(host, name: str) -> str:
    return host.check_output(f"openssl x509 -noout -ext subjectAltName -in {PKI_DIR}/{name}.crt")


def assert_reissued(host, summary: dict, before: dict[str, str], names) -> None:
    assert INSTALL_TASK in summary["pki-server"]["changed_tasks"], summary["pki-server"]
    for name in names:
        assert serial(host, name) != before[name], f"{name} was not reissued"
        result = verify(host, name)
        assert result.rc == 0, result.stdout + result.stderr
        assert public_key_of_certificate(host, f"{PKI_DIR}/{name}.crt") == public_key_of_key(
            host, f"{PKI_DIR}/{name}.key"
        ), f"{name}: the host key changed or no longer matches"


@pytest.mark.control("PKI-CRT-01")
def test_a_certificate_that_no_longer_verifies_is_reissued(host):
    """Replace "intranet" by the same certificate (same subject, names and key)
    signed by a rogue CA that has the internal CA's name: only the signature is
    wrong, so only the verification against the CA can trigger the reissue."""
    work = host.check_output("mktemp -d")
    try:
        requested_sans = sans(host, "intranet")
        host.check_output(
            f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
            f"-subj '/CN={CA_COMMON_NAME}' -keyout {work}/rogue.key -out {work}/rogue.crt "
            f"2>/dev/null"
        )
        host.check_output(
            f"openssl x509 -in {PKI_DIR}/intranet.crt -CA {work}/rogue.crt -CAkey {work}/rogue.key "
            f"-days 60 -out {work}/forged.crt"
        )
        host.check_output(f"cat {work}/forged.crt > {PKI_DIR}/intranet.crt")
    finally:
        host.run(f"rm -rf {work}")
    assert verify(host, "intranet").rc != 0, "the forged certificate should not verify"
    assert sans(host, "intranet") == requested_sans
    before = {"intranet": serial(host, "intranet"), "sip": serial(host, "sip")}

    summary = converge(*LIMIT)

    assert_reissued(host, summary, before, ["intranet"])
    assert serial(host, "sip") == before["sip"], "sip verified and should have been kept"


@pytest.mark.control("PKI-CRT-01")
def test_a_certificate_inside_the_renewal_window_is_reissued_then_kept(host):
    before = {name: serial(host, name) for name in ISSUED}

    summary = converge(*LIMIT, *extra_vars(pki_renew_days_before=VALIDITY_DAYS + 10))

    assert_reissued(host, summary, before, ISSUED)
    renewed = {name: serial(host, name) for name in ISSUED}

    # With the scenario's window (RENEW_DAYS_BEFORE days), nothing is due.
    assert RENEW_DAYS_BEFORE < VALIDITY_DAYS
    summary = converge()

    changed = {name: stats["changed_tasks"] for name, stats in summary.items() if stats["changed"]}
    assert changed == {}, f"a run with the scenario's settings changed: {changed}"
    assert {name: serial(host, name) for name in ISSUED} == renewed


def test_a_certificate_whose_request_changed_is_reissued(host):
    before = {name: serial(host, name) for name in ISSUED}

    summary = converge(*LIMIT, *extra_vars(molecule_extra_sans=["DNS:extra.teletreball.test"]))

    assert_reissued(host, summary, before, ["intranet"])
    assert "DNS:extra.teletreball.test" in sans(host, "intranet")
    assert serial(host, "sip") == before["sip"]

    # Back to the scenario's request: reissued again without the extra name.
    extended = serial(host, "intranet")
    summary = converge(*LIMIT)
    assert_reissued(host, summary, {"intranet": extended}, ["intranet"])
    assert "extra.teletreball.test" not in sans(host, "intranet")
