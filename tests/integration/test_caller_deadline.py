"""Work done for a caller before a saga exists ends within the caller's deadline: with the
payment service unreachable, BookFlight answers UNAVAILABLE (retry later, nothing started)
before the caller gives up, instead of letting it run into its own DEADLINE_EXCEEDED while the
orchestrator is still retrying Tokenize."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from orchestrator.client import Reason, error_details
from tests.support.booking import book_request, first_flight
from tests.support.stack import Stack, running_orchestrator, running_participants
from tests.support.tcpproxy import TcpProxy


async def test_an_unreachable_payment_service_is_unavailable_within_the_deadline(
    tmp_path: Path,
) -> None:
    async with running_participants(tmp_path) as addrs:
        host, port = addrs["payment_service"].rsplit(":", 1)
        proxy = TcpProxy((host, int(port)))  # the orchestrator's only way to payment
        routed = {**addrs, "payment_service": f"127.0.0.1:{proxy.port}"}
        try:
            async with running_orchestrator(routed, tmp_path) as orchestrator:
                stack = Stack(orchestrator, addrs, tmp_path)
                try:
                    flight = await first_flight(stack)
                    proxy.cut()  # payment's link goes silent: Tokenize can only time out
                    with pytest.raises(grpc.aio.AioRpcError) as info:
                        # Shorter than one Tokenize attempt's step timeout (3 s).
                        await stack.orchestrator.BookFlight(book_request([flight]), timeout=2.0)
                    assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value
                    assert error_details(info.value).reason == Reason.PEER_UNAVAILABLE
                    assert "nothing was started" in (info.value.details() or "")
                finally:
                    for channel in stack.channels:
                        await channel.close()
        finally:
            proxy.close()
