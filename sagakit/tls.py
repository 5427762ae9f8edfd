"""TLS and mTLS for every gRPC server and client (docs/security.md#transport; the variables are read
by sagakit.config.TlsConfig): credentials, the plaintext safe default, the peer's identity."""

from __future__ import annotations

import ipaddress
import logging

import grpc

from sagakit.config import CA_VAR, CERT_VAR, KEY_VAR, PLAINTEXT_VAR, ConfigError, TlsConfig

log = logging.getLogger("sagakit.tls")


def server_credentials(tls: TlsConfig) -> grpc.ServerCredentials:
    """The server's certificate; with a CA, a client certificate it signed is required."""
    return grpc.ssl_server_credentials(
        [(tls.private_key, tls.cert_chain)],
        root_certificates=tls.root_ca or None,
        require_client_auth=tls.mutual,
    )


def channel_credentials(tls: TlsConfig) -> grpc.ChannelCredentials:
    """Verify the server with the CA (system roots without one); present our certificate."""
    return grpc.ssl_channel_credentials(
        root_certificates=tls.root_ca or None,
        private_key=tls.private_key or None,
        certificate_chain=tls.cert_chain or None,
    )


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost, or 0.0.0.0-like wildcards: not loopback


def check_listen(service: str, host: str, port: int, tls: TlsConfig) -> None:
    """Safe default: no plaintext off loopback unless ALLOW_PLAINTEXT=1 says so, loudly."""
    if tls.server_tls or is_loopback(host):
        return
    if not tls.allow_plaintext:
        raise ConfigError(
            f"{service}: refusing to listen on {host}:{port} without TLS: set {CERT_VAR} and "
            f"{KEY_VAR} (and {CA_VAR} for mTLS), or listen on 127.0.0.1 (LISTEN_ADDR), or set "
            f"{PLAINTEXT_VAR}=1 to accept plaintext on this network"
        )
    log.warning(
        "%s listening on %s:%d WITHOUT TLS (%s=1): anyone who reaches this port can call it",
        service,
        host,
        port,
        PLAINTEXT_VAR,
    )


def peer_names(ctx: grpc.aio.ServicerContext) -> set[str]:
    """The verified client certificate's common name and SANs; empty without mTLS."""
    auth = ctx.auth_context() or {}
    names: set[str] = set()
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        for value in auth.get(key, ()):
            names.add(value.decode() if isinstance(value, bytes) else str(value))
    return names
