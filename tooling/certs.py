"""`flightsaga certs DIR`: a local CA and one certificate per service, for development, tests
and compose. Not for production: there, certificates come from the operator's own CA.

DIR/ca.pem (+ ca-key.pem, kept to sign more) and, per name, DIR/<name>.pem + <name>-key.pem.
Each certificate's common name is its identity: a participant accepts Do/Compensate only from
the one named `orchestrator` (ORCHESTRATOR_IDENTITY). Every certificate is valid as a server and
as a client, with SANs for the compose host name, localhost and 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sagas import registry
from sagas.registry import Registry
from sagas.services import ORCHESTRATOR, PARTICIPANTS


def default_names(sagas: Registry | None = None) -> tuple[str, ...]:
    """One per gRPC service of a stack serving `sagas` (SAGAS; the booking saga's by default),
    by its service name, then the dashboard (a client of the orchestrator) and `client`: the
    certificate users, the CLI, grpcurl and tests present."""
    served = sagas or registry.parse(registry.DEFAULT)
    return (
        ORCHESTRATOR.database,
        *(p.database for p in served.participants),
        "dashboard",
        "client",
    )


DEFAULT_NAMES = default_names()
VALID_DAYS = 365
# The host names docker-compose.yml gives the services: also SANs of their certificates.
COMPOSE_HOSTS = {p.database: p.name for p in PARTICIPANTS}


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "FlightSaga dev"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def _load_or_make_ca(
    out: Path, now: dt.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Reuse DIR's CA when there is one, so adding a name keeps the others valid."""
    cert_file, key_file = out / "ca.pem", out / "ca-key.pem"
    if cert_file.exists() and key_file.exists():
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_file}: not an EC key made by `flightsaga certs`")
        return x509.load_pem_x509_certificate(cert_file.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("FlightSaga dev CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    _write(key_file, _key_pem(key), private=True)
    return cert, key


def make_certs(
    out: Path, names: Sequence[str] = DEFAULT_NAMES, hosts: Sequence[str] = ()
) -> list[Path]:
    """Write the CA (unless DIR has one) and a certificate + key per name; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_cert, ca_key = _load_or_make_ca(out, now)
    written = [out / "ca.pem"]
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [
            x509.DNSName(name),
            # Compose service names use hyphens or underscores; accept both spellings.
            x509.DNSName(name.replace("_", "-")),
            x509.DNSName(COMPOSE_HOSTS.get(name, name)),
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(list(dict.fromkeys(sans))), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write(out / f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM))
        # Readable by the container user too (compose mounts DIR read-only); dev keys only.
        _write(out / f"{name}-key.pem", _key_pem(key))
        written += [out / f"{name}.pem", out / f"{name}-key.pem"]
    return written
