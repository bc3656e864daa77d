"""Renewal. Each test runs converge.yml again from the controller, the way
Molecule does, and checks what the role did: a certificate that no longer
verifies against the CA, one inside the renewal window and one whose request
changed are reissued (new serial, still verifying, same host key), while a
certificate with nothing due is kept.

A re-run costs about a minute, so one run sets up several conditions at once,
each on its own certificate, and every run keeps one certificate that must not
change. The re-runs are limited to pki-server, the only host with issued
certificates, and to the tasks of the control (tag pki-crt-01, which also runs
the preflight, the packages and the CA, all tagged always): the trust store and
the external certificates do not take part in renewal."""

from __future__ import annotations

import datetime
import shlex

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pki_helpers import (
    CA_COMMON_NAME,
    PKI_DIR,
    RENEW_DAYS_BEFORE,
    SERVER,
    VALIDITY_DAYS,
    ca_dir,
    converge,
    extra_vars,
    public_key_of_certificate,
    public_key_of_key,
    serial,
    verify,
)

testinfra_hosts = [SERVER]

RENEWAL_RUN = ("--limit", "pki-server", "--tags", "pki-crt-01")
INSTALL_TASK = "pki : Install the certificates"
EXTRA_SAN = "DNS:extra.teletreball.test"
DAY = 86400


def sans(host, name: str) -> str:
    return host.check_output(f"openssl x509 -noout -ext subjectAltName -in {PKI_DIR}/{name}.crt")


def expires_within(host, name: str, days: int) -> bool:
    """True when the installed certificate expires within `days` days."""
    result = host.run(f"openssl x509 -noout -checkend {days * DAY} -in {PKI_DIR}/{name}.crt")
    assert result.rc in (0, 1), result.stderr
    return result.rc == 1


def assert_reissued(host, summary: dict, before: dict[str, str], names) -> None:
    assert INSTALL_TASK in summary["pki-server"]["changed_tasks"], summary["pki-server"]
    for name in names:
        assert serial(host, name) != before[name], f"{name} was not reissued"
        result = verify(host, name)
        assert result.rc == 0, result.stdout + result.stderr
        assert public_key_of_certificate(host, f"{PKI_DIR}/{name}.crt") == public_key_of_key(
            host, f"{PKI_DIR}/{name}.key"
        ), f"{name}: the host key changed or no longer matches"
        # A reissued certificate has the full validity: it is outside the window.
        assert not expires_within(host, name, RENEW_DAYS_BEFORE), f"{name} expires too soon"


def make_expire_soon(host, name: str, days: int) -> None:
    """Replace the installed certificate by a copy signed by the internal CA (on
    the controller, where the CA lives) that expires in `days` days. Subject,
    names, usages, key identifiers and public key stay the same, so only the
    renewal window can trigger the reissue."""
    current = x509.load_pem_x509_certificate(host.file(f"{PKI_DIR}/{name}.crt").content)
    passphrase = (ca_dir() / "ca.passphrase").read_text(encoding="utf-8").strip().encode()
    ca_key = serialization.load_pem_private_key(
        (ca_dir() / "ca.key").read_bytes(), password=passphrase
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(current.subject)
        .issuer_name(current.issuer)
        .public_key(current.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(current.not_valid_before_utc)
        .not_valid_after(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days))
    )
    for extension in current.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    certificate = builder.sign(ca_key, current.signature_hash_algorithm)
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    host.check_output(f"printf '%s' {shlex.quote(pem)} > {PKI_DIR}/{name}.crt")


@pytest.mark.control("PKI-CRT-01")
def test_a_certificate_inside_the_window_and_one_whose_request_changed_are_reissued(host):
    """One run with two conditions: "sip" enters the renewal window (nothing
    else about it changes) and the request of "intranet" gains a name. Then a
    run with the scenario's settings: "intranet" goes back to its request (the
    name is dropped) while the renewed "sip" is kept."""
    requested_sans = sans(host, "sip")
    make_expire_soon(host, "sip", days=RENEW_DAYS_BEFORE // 3)
    result = verify(host, "sip")
    assert result.rc == 0, "the certificate about to expire must still verify: " + result.stdout
    assert sans(host, "sip") == requested_sans
    assert not expires_within(host, "sip", 0), "the certificate must not have expired yet"
    assert expires_within(host, "sip", RENEW_DAYS_BEFORE), "sip should be inside the window"
    before = {"intranet": serial(host, "intranet"), "sip": serial(host, "sip")}

    summary = converge(*RENEWAL_RUN, *extra_vars(molecule_extra_sans=[EXTRA_SAN]))

    assert_reissued(host, summary, before, ["intranet", "sip"])
    assert EXTRA_SAN in sans(host, "intranet")
    assert sans(host, "sip") == requested_sans

    # Back to the scenario's request and window (RENEW_DAYS_BEFORE days).
    assert RENEW_DAYS_BEFORE < VALIDITY_DAYS
    extended = serial(host, "intranet")
    renewed = serial(host, "sip")

    summary = converge(*RENEWAL_RUN)

    assert_reissued(host, summary, {"intranet": extended}, ["intranet"])
    assert EXTRA_SAN.removeprefix("DNS:") not in sans(host, "intranet")
    assert serial(host, "sip") == renewed, "the renewed sip was reissued again"


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

    summary = converge(*RENEWAL_RUN)

    assert_reissued(host, summary, before, ["intranet"])
    assert serial(host, "sip") == before["sip"], "sip verified and should have been kept"
