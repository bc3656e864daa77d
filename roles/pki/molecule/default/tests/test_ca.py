"""The internal CA on the controller: a private folder, a key that only opens
with the stored passphrase, a CA certificate that can sign and nothing else."""

from __future__ import annotations

import datetime
import stat

import pytest
import teletreball_testinfra
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pki_helpers import CA_COMMON_NAME, ca_dir, ca_params, passphrase_file

# The live checks of the controller run here, on the machine that ran Molecule.
testinfra_hosts = ["local://"]


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.control("PKI-CA-01")
def test_ca_is_private_encrypted_and_outside_git(control_check):
    """The audit's check: the folder 0700 and only the CA in it (host keys are made on the
    hosts), each file 0600, the key encrypted PKCS#8 opening with the stored passphrase of
    48 generated characters, the certificate of that key, nothing of it in git."""
    control_check("PKI-CA-01", ca_params())
    assert mode(ca_dir().parent) == 0o700, "teletreball_credentials_dir must be 0700"


@pytest.mark.control("PKI-CA-01")
def test_ca_key_opens_with_its_passphrase_only():
    key_pem = (ca_dir() / "ca.key").read_bytes()
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(key_pem, password=None)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(key_pem, password=b"not-the-passphrase")


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


@pytest.mark.control("PKI-CA-01")
def test_the_passphrase_is_kept_outside_the_credentials_folder():
    """pki_ca_passphrase_file, generated on the first run beside the credentials folder
    (outside it, so a backup of the folder never holds the key and its passphrase)."""
    credentials = ca_dir().parent
    assert not (ca_dir() / "ca.passphrase").exists()
    assert passphrase_file().parent == credentials.parent
    assert mode(passphrase_file()) == 0o600
    assert len(passphrase_file().read_text(encoding="utf-8").strip()) == 48
    assert not list(credentials.rglob("*passphrase*"))


def test_a_passphrase_beside_the_key_stops_the_run_with_the_steps_to_move_it():
    """The layout before this release: ca.passphrase in pki_ca_dir. The preflight stops
    before anything changes and names both ways out (vault, or a file outside)."""
    legacy = ca_dir() / "ca.passphrase"
    legacy.write_bytes(passphrase_file().read_bytes())
    legacy.chmod(0o600)
    try:
        result, _ = teletreball_testinfra.run_converge(check=False)
    finally:
        legacy.unlink()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "holds the passphrase of the CA key beside" in output
    assert "ansible-vault create" in output and ".ca-passphrase" in output
