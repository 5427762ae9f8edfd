"""The orchestrator's side of the booking saga (sagas.booking declares it): its engine
definition, its participants' channels, and the card in its input — tokenised before the saga
log keeps it, masked when shown back, compared without it on an idempotent replay.
"""

from __future__ import annotations

from flightsaga.v1 import common_pb2, orchestrator_pb2, payment_pb2
from orchestrator import from_declaration
from orchestrator.engine.definition import RetryPolicy, SagaDefinition
from sagakit.config import TlsConfig
from sagas.booking import BOOK_FLIGHT, PARTICIPANTS
from sagas.peers import Peers

NAME = BOOK_FLIGHT.name


def comparable(payload: bytes) -> bytes:
    """A stored request as compared with a replay's (same idempotency key): the card as its
    last four digits and expiry, so a card tokenised twice (a new token each time), or stored
    in full by an earlier release, still compares equal."""
    req = orchestrator_pb2.BookFlightRequest.FromString(payload)
    digits = "".join(c for c in req.card.number if c.isdigit())
    req.card.number = f"****{digits[-4:]}"
    req.card.cvc = ""
    req.card.token = ""
    return req.SerializeToString(deterministic=True)


def tokenized(
    req: orchestrator_pb2.BookFlightRequest, reply: payment_pb2.TokenizeResponse
) -> orchestrator_pb2.BookFlightRequest:
    """The request with its card replaced by the payment service's token (and last four
    digits): what the saga log keeps, so no card number or CVC is stored."""
    out = orchestrator_pb2.BookFlightRequest()
    out.CopyFrom(req)
    card = req.card
    out.card.CopyFrom(
        common_pb2.Card(
            number=f"****{reply.last4}",
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            holder_name=card.holder_name,
            token=reply.token,
        )
    )
    return out


def masked(req: orchestrator_pb2.BookFlightRequest) -> orchestrator_pb2.BookFlightRequest:
    """The request as shown back to clients: card number reduced to its last 4 digits, no CVC."""
    out = orchestrator_pb2.BookFlightRequest()
    out.CopyFrom(req)
    digits = "".join(c for c in req.card.number if c.isdigit())
    out.card.number = f"****{digits[-4:]}" if digits else ""
    out.card.cvc = ""
    return out


def participants(
    seat: str, loyalty: str, payment: str, booking: str, tls: TlsConfig | None = None
) -> Peers:
    """The saga's four participants. `tls`: the orchestrator's own certificate, its identity to
    the participants (mTLS); no bearer token (participants know the orchestrator by it)."""
    given = (seat, loyalty, payment, booking)
    return Peers(
        {p.name: addr for p, addr in zip(PARTICIPANTS, given, strict=True)}, tls=tls, token=""
    )


def build(peers: Peers, step_timeout: float, retry: RetryPolicy) -> SagaDefinition:
    """The booking saga as the engine runs it, calling its participants through `peers`."""
    return from_declaration.build(BOOK_FLIGHT, peers, step_timeout, retry)
