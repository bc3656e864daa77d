"""Extra CA certificates: BL-PKI-01. The declared CA (the scenario's test CA)
is trusted by OpenSSL through the system bundle and the hashed folder (the
control's live check, which playbooks/audit.yml runs on the council's hosts);
an undeclared one is not."""

from __future__ import annotations

import pytest
from baseline_helpers import HOST

testinfra_hosts = [HOST]


@pytest.mark.control("BL-PKI-01")
def test_declared_ca_certificates_are_trusted(control_check):
    # converge.yml declares the scenario's test CA as molecule-test-ca.
    control_check("BL-PKI-01", {"extra_ca_certificates": ["molecule-test-ca"]})


@pytest.mark.control("BL-PKI-01")
def test_an_undeclared_ca_is_not_trusted(host):
    work = host.check_output("mktemp -d")
    try:
        host.check_output(
            f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
            f"-subj /CN=tt-untrusted -keyout {work}/key.pem -out {work}/ca.pem 2>/dev/null"
        )
        result = host.run(
            f"openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt {work}/ca.pem"
        )
        assert result.rc != 0
    finally:
        host.run(f"rm -rf {work}")
