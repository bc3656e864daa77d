"""Certificates issued by the internal CA on pki-server: they verify against
the controller's CA, carry exactly the requested names and usages, and their
keys are private to the owners the inventory asked for."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pki_helpers import (
    ISSUED,
    PKI_DIR,
    SERVER,
    VALIDITY_DAYS,
    verify,
)

testinfra_hosts = [SERVER]


def load(host, path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(host.file(path).content)


def names(certificate: x509.Certificate) -> set[str]:
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {f"DNS:{name}" for name in sans.get_values_for_type(x509.DNSName)} | {
        f"IP:{address}" for address in sans.get_values_for_type(x509.IPAddress)
    }


@pytest.mark.parametrize("name", sorted(ISSUED))
def test_certificate_verifies_against_the_ca(host, name):
    for purpose in ISSUED[name]["purposes"]:
        result = verify(host, name, purpose)
        assert result.rc == 0, result.stdout + result.stderr
        assert result.stdout.strip().endswith(": OK")


@pytest.mark.parametrize("name", sorted(ISSUED))
def test_certificate_has_the_requested_names_and_usages(host, name):
    expected = ISSUED[name]
    certificate = load(host, f"{PKI_DIR}/{name}.crt")
    common_names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    assert [item.value for item in common_names] == [expected["common_name"]]
    assert names(certificate) == expected["sans"]
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca is False
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    wanted = {
        "sslserver": x509.ExtendedKeyUsageOID.SERVER_AUTH,
        "sslclient": x509.ExtendedKeyUsageOID.CLIENT_AUTH,
    }
    assert set(usages) == {wanted[purpose] for purpose in expected["purposes"]}
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert abs(lifetime - datetime.timedelta(days=VALIDITY_DAYS, minutes=10)) < datetime.timedelta(
        minutes=2
    )


@pytest.mark.parametrize("name", sorted(ISSUED))
def test_private_key_is_of_the_type_asked_and_readable_by_its_owner_only(host, name):
    # Its mode, owner and group, and that it matches the certificate: PKI-CRT-01's check
    # (test_trust.py).
    expected = ISSUED[name]
    public_key = load(host, f"{PKI_DIR}/{name}.crt").public_key()
    key_classes = {"RSA": rsa.RSAPublicKey, "EC": ec.EllipticCurvePublicKey}
    assert isinstance(public_key, key_classes[expected["key_type"]])
    # The owner (a service account) can read its key; other accounts cannot.
    assert host.run(f"runuser -u {expected['owner']} -- cat {PKI_DIR}/{name}.key").rc == 0
    assert host.run(f"runuser -u nobody -- cat {PKI_DIR}/{name}.key").rc != 0
