"""The internal CA on the controller: a private folder, a key that only opens
with the stored passphrase, a CA certificate that can sign and nothing else."""

from __future__ import annotations

import datetime
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pki_helpers import CA_COMMON_NAME, CA_FILES, ca_dir


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.control("PKI-CA-01")
def test_ca_folder_and_files_are_private():
    folder = ca_dir()
    assert folder.is_dir(), f"pki_ca_dir {folder} was not created"
    assert mode(folder) == 0o700
    assert mode(folder.parent) == 0o700, "teletreball_credentials_dir must be 0700"
    for path in folder.iterdir():
        assert mode(path) == 0o600, f"{path.name} is {oct(mode(path))}, not 0600"


def test_ca_folder_holds_only_the_ca():
    """Host keys are made on the hosts and never copied to the controller."""
    assert {path.name for path in ca_dir().iterdir()} == CA_FILES


@pytest.mark.control("PKI-CA-01")
def test_ca_key_is_encrypted_with_the_stored_passphrase():
    key_pem = (ca_dir() / "ca.key").read_bytes()
    passphrase = (ca_dir() / "ca.passphrase").read_text(encoding="utf-8").strip()
    # Compare the length only: a failed assert shows its operands, never the passphrase.
    length = len(passphrase)
    assert length >= 32
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(key_pem, password=None)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(key_pem, password=b"not-the-passphrase")
    key = serialization.load_pem_private_key(key_pem, password=passphrase.encode())
    certificate = x509.load_pem_x509_certificate((ca_dir() / "ca.crt").read_bytes())
    assert key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_ca_certificate_can_only_sign():
    certificate = x509.load_pem_x509_certificate((ca_dir() / "ca.crt").read_bytes())
    common_names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    assert [name.value for name in common_names] == [CA_COMMON_NAME]
    assert certificate.issuer == certificate.subject
    certificate.verify_directly_issued_by(certificate)
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is True
    assert constraints.value.path_length == 0
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert not usage.digital_signature
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    # pki_ca_validity_days (default 3650) plus the 10 minutes of clock margin.
    assert abs(lifetime - datetime.timedelta(days=3650, minutes=10)) < datetime.timedelta(minutes=2)
