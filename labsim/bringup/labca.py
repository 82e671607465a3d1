"""The lab's certificate authority: one per lab, made at bring-up with trustme.

Backends get leaf certificates for the names they declare; nodes that trust the lab CA see
it appended to their own /etc/ssl/certs/ca-certificates.crt, so curl, openssl and Python
verify lab certificates with no flags, and a name mismatch fails exactly as it would in
production (curl error 60).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # trustme imports cryptography (~0.05 s): only a lab that makes its CA needs it
    import trustme

SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
OPENSSL_CNF = Path("/etc/ssl/openssl.cnf")


@dataclass
class LabCA:
    ca: trustme.CA

    @classmethod
    def create(cls, lab: str) -> LabCA:
        import trustme

        return cls(trustme.CA(organization_name=f"labsim lab {lab}"))

    @classmethod
    def load(cls, cert_path: Path, key_path: Path) -> LabCA:
        """The running lab's CA again (to issue a certificate while the lab is up)."""
        import trustme

        return cls(trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes()))

    def save_key(self, path: Path) -> Path:
        """The CA key, readable by root only, in the lab's state directory (gone at `down`)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(self.ca.private_key_pem.bytes())
        return path

    @property
    def cert_pem(self) -> bytes:
        return self.ca.cert_pem.bytes()

    def issue(self, names: list[str]) -> tuple[bytes, bytes]:
        """(certificate chain PEM, private key PEM) for `names` (DNS names or IP literals)."""
        leaf = self.ca.issue_cert(*names)
        chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
        return chain, leaf.private_key_pem.bytes()

    def write_trust_dir(self, target: Path) -> Path:
        """An /etc/ssl for nodes that trust the lab CA: the host's bundle plus the lab CA,
        written once per lab (nodes link to it)."""
        bundle = SYSTEM_BUNDLE.read_bytes() if SYSTEM_BUNDLE.exists() else b""
        (target / "certs").mkdir(parents=True, exist_ok=True)
        (target / "certs" / "ca-certificates.crt").write_bytes(bundle + self.cert_pem)
        (target / "certs" / "labsim-ca.pem").write_bytes(self.cert_pem)
        if OPENSSL_CNF.exists():
            (target / "openssl.cnf").write_bytes(OPENSSL_CNF.read_bytes())
        return target
