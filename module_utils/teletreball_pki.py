# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keys and certificates: what teletreball_pki_host (on the hosts) and teletreball_ca_check
(the CA on the controller) both ask of them. Needs the Python library cryptography; the
modules report HAS_CRYPTOGRAPHY with missing_required_lib when it is absent."""

from __future__ import annotations

import datetime

try:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
except ImportError:
    HAS_CRYPTOGRAPHY = False
else:
    HAS_CRYPTOGRAPHY = True


def describe_wanted(key):
    return f"RSA {key['size']}" if key["type"] == "RSA" else f"ECC {key['curve']}"


def describe_key(private_key):
    if isinstance(private_key, rsa.RSAPrivateKey):
        return f"RSA {private_key.key_size}"
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return f"ECC {private_key.curve.name}"
    return type(private_key).__name__


def key_is_wanted(private_key, key):
    if key["type"] == "RSA":
        return isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size == key["size"]
    return (isinstance(private_key, ec.EllipticCurvePrivateKey)
            and private_key.curve.name == key["curve"])


def public_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def utc(value):
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def validity(certificate):
    try:
        return certificate.not_valid_before_utc, certificate.not_valid_after_utc
    except AttributeError:  # cryptography < 42
        return utc(certificate.not_valid_before), utc(certificate.not_valid_after)


def signed_by(certificate, issuer_public_key):
    """Whether the signature of ``certificate`` verifies with ``issuer_public_key`` (the
    algorithms community.crypto verifies)."""
    try:
        algorithm = certificate.signature_hash_algorithm
        data, signature = certificate.tbs_certificate_bytes, certificate.signature
        if isinstance(issuer_public_key, rsa.RSAPublicKey):
            issuer_public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(issuer_public_key, ec.EllipticCurvePublicKey):
            issuer_public_key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(issuer_public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            issuer_public_key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def parse_now(value):
    """The time of an ISO 8601 text (UTC when it has no zone; Z accepted), now when None;
    ValueError when the text is not such a time."""
    if value is None:
        return datetime.datetime.now(datetime.UTC)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return utc(datetime.datetime.fromisoformat(text))
