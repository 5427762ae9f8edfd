"""TLS settings, the plaintext safe default and the tokens file: errors name the variable."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sagakit.auth import Tokens, digest, new_token
from sagakit.config import ConfigError, ServiceConfig, TlsConfig
from sagakit.tls import check_listen


def test_a_certificate_without_its_key_names_the_missing_variable(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="TLS_KEY_FILE"):
        TlsConfig.from_env({"TLS_CERT_FILE": str(cert)})
    with pytest.raises(ConfigError, match="TLS_CA_FILE: cannot read"):
        TlsConfig.from_env({"TLS_CA_FILE": str(tmp_path / "missing.pem")})
    (tmp_path / "junk.pem").write_text("not pem")
    with pytest.raises(ConfigError, match=r"TLS_CA_FILE: .* is not a PEM file"):
        TlsConfig.from_env({"TLS_CA_FILE": str(tmp_path / "junk.pem")})
    with pytest.raises(ConfigError, match="ALLOW_PLAINTEXT"):
        ServiceConfig.from_env("seat_service", 50051, {"ALLOW_PLAINTEXT": "yes please"})


def test_plaintext_off_loopback_is_refused_unless_allowed(caplog: pytest.LogCaptureFixture) -> None:
    plain = TlsConfig()
    for host in ("127.0.0.1", "localhost", "::1"):
        check_listen("seat_service", host, 50051, plain)
    for host in ("0.0.0.0", "10.1.2.3", "seat"):
        with pytest.raises(ConfigError, match="ALLOW_PLAINTEXT=1"):
            check_listen("seat_service", host, 50051, plain)
    with caplog.at_level(logging.WARNING):
        check_listen("seat_service", "0.0.0.0", 50051, TlsConfig(allow_plaintext=True))
    assert "WITHOUT TLS" in caplog.text
    check_listen("seat_service", "0.0.0.0", 50051, TlsConfig(cert_chain=b"x", private_key=b"k"))


def test_tokens_file_holds_digests_and_maps_tokens_to_names_and_roles() -> None:
    token, line = new_token("ann", "reader,booker")
    assert token not in line and digest(token) in line
    tokens = Tokens.parse(f"# a comment\n\n{line}\nops operator {digest('op-secret')}\n")
    ann = tokens.from_header(f"Bearer {token}")
    assert ann is not None and ann.name == "ann" and ann.roles == {"reader", "booker"}
    assert tokens.from_header("bearer op-secret") is not None
    for bad in ("", "Bearer", "Bearer nope", f"Basic {token}", token):
        assert tokens.from_header(bad) is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "no tokens"),
        ("ann booker", "expected 'NAME ROLES sha256:HEX'"),
        ("ann admin sha256:" + "0" * 64, "roles must be among"),
        ("ann booker my-clear-token", "sha256:<64 hex digits>"),
        ("a/b booker sha256:" + "0" * 64, "name 'a/b'"),
        ("ann booker sha256:" + "0" * 64 + "\nann reader sha256:" + "1" * 64, "twice"),
    ],
)
def test_a_bad_tokens_file_fails_at_start_naming_the_line(text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as refused:
        Tokens.parse(text)
    assert "AUTH_TOKENS_FILE" in str(refused.value)
    assert "my-clear-token" not in str(refused.value)


def test_an_unreadable_tokens_file_names_the_variable(tmp_path: Path) -> None:
    assert Tokens.from_env({}) is None
    with pytest.raises(ConfigError, match="AUTH_TOKENS_FILE: cannot read"):
        Tokens.from_env({"AUTH_TOKENS_FILE": str(tmp_path / "missing")})
