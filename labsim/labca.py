"""The lab's certificate authority: one per lab, made at bring-up with trustme.

Backends get leaf certificates for the names they declare; nodes that trust the lab CA see
it appended to their own /etc/ssl/certs/ca-certificates.crt, so curl, openssl and Python
verify lab certificates with no flags, and a name mismatch fails exactly as it would in
production (curl error 60).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme

SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
OPENSSL_CNF = Path("/etc/ssl/openssl.cnf")


@dataclass
class LabCA:
    ca: trustme.CA

    @classmethod
    def create(cls, lab: str) -> "LabCA":
        return cls(trustme.CA(organization_name=f"labsim lab {lab}"))

    @property
    def cert_pem(self) -> bytes:
        return self.ca.cert_pem.bytes()

    def issue(self, names: list[str]) -> tuple[bytes, bytes]:
        """(certificate chain PEM, private key PEM) for `names` (DNS names or IP literals)."""
        leaf = self.ca.issue_cert(*names)
        chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
        return chain, leaf.private_key_pem.bytes()

    def trust_files(self) -> dict[str, bytes]:
        """/etc/ssl files for a node that trusts the lab CA (over the host's own)."""
        bundle = SYSTEM_BUNDLE.read_bytes() if SYSTEM_BUNDLE.exists() else b""
        files = {"/etc/ssl/certs/ca-certificates.crt": bundle + self.cert_pem,
                 "/etc/ssl/certs/labsim-ca.pem": self.cert_pem}
        if OPENSSL_CNF.exists():
            files["/etc/ssl/openssl.cnf"] = OPENSSL_CNF.read_bytes()
        return files
