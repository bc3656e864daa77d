"""Renewal: converge.yml is run again from the controller, the way Molecule
does, and the tests check what the role did. A certificate that no longer
verifies against the CA, one inside the renewal window and one whose request
changed are reissued (new serial, still verifying, same host key, full
validity); a certificate with nothing due is kept.

A re-run costs about a minute, so the first re-run (the module fixture
``first_run``) sets up the three conditions at once, each on its own
certificate and each the only thing wrong with it:

* "sip-copy", declared for this run only (molecule_extra_certificates) as a
  copy of "sip" with sip's key and certificate, but signed by a rogue CA;
* "sip", signed again by the internal CA so that it expires inside the window;
* "intranet", whose request gains a name (molecule_extra_sans).

The second re-run has the scenario's settings: "intranet" goes back to its
request and must be reissued without the name, while the renewed "sip" must be
kept. Both re-runs are limited to pki-server, the only host with issued
certificates, and to the tasks of the control (tag pki-crt-01, which also runs
the preflight, the packages and the CA, all tagged always): the trust store
and the external certificates take no part in renewal.
"""

from __future__ import annotations

import datetime
import json
import shlex

import pytest
import teletreball_testinfra
import testinfra
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
    crt_params,
    extra_vars,
    passphrase_file,
)

testinfra_hosts = [SERVER]

RENEWAL_RUN = ("--limit", "pki-server", "--tags", "pki-crt-01")
INSTALL_TASK = "pki : Install the certificates"
EXTRA_SAN = "DNS:extra.teletreball.test"
COPY = "sip-copy"
# "sip" of molecule.yml under another name, taken from the inventory itself so
# that its request is exactly sip's.
COPY_OF_SIP = (
    "{{ molecule_certificates | selectattr('name', 'eq', 'sip') "
    f"| map('combine', {{'name': '{COPY}'}}) | list }}}}"
)
DAY = 86400


def inspect(host, *names: str) -> dict[str, dict]:
    """What the tests need to know of installed certificates, read with one
    command on the host: serial, whether it verifies against the installed CA,
    whether it holds the public key of the host's key, whether it is still
    valid and whether it expires inside the renewal window, and its names."""
    checks = []
    for name in names:
        crt, key = f"{PKI_DIR}/{name}.crt", f"{PKI_DIR}/{name}.key"
        checks.append(
            f"echo name={name}; "
            f"openssl x509 -noout -serial -in {crt}; "
            f"openssl verify -x509_strict -purpose sslserver -CAfile {PKI_DIR}/ca.crt {crt} "
            f">/dev/null 2>&1; echo verify_rc=$?; "
            f'[ "$(openssl x509 -noout -pubkey -in {crt})" = '
            f'"$(openssl pkey -pubout -in {key})" ]; echo key_rc=$?; '
            f"openssl x509 -noout -checkend 0 -in {crt} >/dev/null; echo expired_rc=$?; "
            f"openssl x509 -noout -checkend {RENEW_DAYS_BEFORE * DAY} -in {crt} >/dev/null; "
            f"echo window_rc=$?; "
            f"echo sans=$(openssl x509 -noout -ext subjectAltName -in {crt} | tail -n +2)"
        )
    output = host.check_output("; ".join(checks))
    found: dict[str, dict] = {}
    current: dict = {}
    for line in output.splitlines():
        key, _, value = line.partition("=")
        if key == "name":
            current = found.setdefault(value, {})
        else:
            current[key] = value.strip()
    result = {}
    for name in names:
        raw = found[name]
        # openssl verify fails with 2; the other checks answer 0 or 1.
        for check in ("key_rc", "expired_rc", "window_rc"):
            assert raw[check] in ("0", "1"), f"{name}: {check} {raw[check]}"
        result[name] = {
            "serial": raw["serial"],
            "verifies": raw["verify_rc"] == "0",
            "key_matches": raw["key_rc"] == "0",
            "expired": raw["expired_rc"] == "1",
            "in_window": raw["window_rc"] == "1",
            "sans": {san.strip() for san in raw["sans"].split(",")},
        }
    return result


def assert_reissued(before: dict, after: dict) -> None:
    assert after["serial"] != before["serial"], "the certificate was not reissued"
    assert after["verifies"], "the reissued certificate does not verify against the CA"
    assert after["key_matches"], "the host key changed or no longer matches"
    # A reissued certificate has the full validity: the next run keeps it.
    assert not after["in_window"], "the reissued certificate expires inside the window"


def forge_copy_of_sip(host) -> None:
    """sip's key and certificate as "sip-copy", the certificate signed again by
    a rogue CA that has the internal CA's name: subject, names, usages and key
    stay right, only the signature is wrong."""
    host.check_output(
        f"set -e; work=$(mktemp -d); trap 'rm -rf $work' EXIT; cd {PKI_DIR}; "
        f"cp -p sip.key {COPY}.key; "
        f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
        f"-subj '/CN={CA_COMMON_NAME}' -keyout $work/rogue.key -out $work/rogue.crt 2>/dev/null; "
        f"openssl x509 -in sip.crt -CA $work/rogue.crt -CAkey $work/rogue.key -days 60 "
        f"-out {COPY}.crt"
    )


def make_expire_soon(host, name: str, days: int) -> None:
    """Replace the installed certificate by a copy signed by the internal CA (on
    the controller, where the CA lives) that expires in `days` days. Subject,
    names, usages, key identifiers and public key stay the same, so only the
    renewal window can trigger the reissue."""
    current = x509.load_pem_x509_certificate(host.file(f"{PKI_DIR}/{name}.crt").content)
    passphrase = passphrase_file().read_text(encoding="utf-8").strip().encode()
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


@pytest.fixture(scope="module")
def first_run():
    """Set up the three conditions, check that each holds and is the only thing
    wrong, run converge once; return the certificates before and after."""
    host = testinfra.get_host(SERVER)
    forge_copy_of_sip(host)
    make_expire_soon(host, "sip", days=RENEW_DAYS_BEFORE // 3)
    before = inspect(host, "intranet", "sip", COPY)
    assert before[COPY]["sans"] == before["sip"]["sans"]
    assert not before[COPY]["verifies"], "the forged certificate should not verify"
    assert before[COPY]["key_matches"] and not before[COPY]["in_window"]
    assert before["sip"]["verifies"], "the certificate about to expire must still verify"
    assert before["sip"]["key_matches"] and not before["sip"]["expired"]
    assert before["sip"]["in_window"], "sip should expire inside the renewal window"
    assert before["intranet"]["verifies"] and not before["intranet"]["in_window"]
    assert EXTRA_SAN not in before["intranet"]["sans"]
    # The audit's check sees what the run is about to mend: "sip" is due, and its full
    # chain no longer holds the certificate installed in its place.
    audit = teletreball_testinfra.audit_checks()
    outcome = audit.evaluate("PKI-CRT-01", teletreball_testinfra.TestinfraProbe(host),
                             crt_params(issued=True))
    assert [finding["requirement"] for finding in audit.failed_findings(outcome)] == [
        f"sip: not inside the renewal window ({RENEW_DAYS_BEFORE} days)",
        "sip: its chain and full chain hold it and the CA"], audit.explain(outcome)

    summary = converge(*RENEWAL_RUN, *extra_vars(molecule_extra_sans=[EXTRA_SAN]),
                       "--extra-vars", json.dumps({"molecule_extra_certificates": COPY_OF_SIP}))
    yield {"summary": summary, "before": before,
           "after": inspect(host, "intranet", "sip", COPY)}
    host.run(f"rm -f {PKI_DIR}/{COPY}.*")


@pytest.mark.control("PKI-CRT-01")
def test_a_certificate_that_no_longer_verifies_is_reissued(first_run):
    assert INSTALL_TASK in first_run["summary"]["pki-server"]["changed_tasks"]
    assert_reissued(first_run["before"][COPY], first_run["after"][COPY])


@pytest.mark.control("PKI-CRT-01")
def test_a_certificate_inside_the_renewal_window_is_reissued(first_run):
    before, after = first_run["before"]["sip"], first_run["after"]["sip"]
    assert_reissued(before, after)
    assert after["sans"] == before["sans"]


@pytest.mark.control("PKI-CRT-01")
def test_a_certificate_whose_request_changed_is_reissued(first_run):
    before, after = first_run["before"]["intranet"], first_run["after"]["intranet"]
    assert_reissued(before, after)
    assert after["sans"] == before["sans"] | {EXTRA_SAN}


@pytest.mark.control("PKI-CRT-01")
def test_back_to_the_request_only_that_certificate_is_reissued(host, first_run, control_check):
    """A run with the scenario's settings: "intranet" is reissued without the
    added name; the renewed "sip" is outside the window and kept: the audit's check
    passes again."""
    assert RENEW_DAYS_BEFORE < VALIDITY_DAYS
    before = first_run["after"]

    summary = converge(*RENEWAL_RUN)

    after = inspect(host, "intranet", "sip")
    assert INSTALL_TASK in summary["pki-server"]["changed_tasks"], summary["pki-server"]
    assert_reissued(before["intranet"], after["intranet"])
    assert after["intranet"]["sans"] == before["intranet"]["sans"] - {EXTRA_SAN}
    assert after["sip"]["serial"] == before["sip"]["serial"], "the renewed sip was reissued again"
    control_check("PKI-CRT-01", crt_params(issued=True))
