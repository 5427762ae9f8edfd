"""Client channels to peers: one long-lived channel each, tuned to find a restarted peer fast.

gRPC's default reconnect backoff grows to two minutes (seen here: a participant restarted and
SERVING was first reached up to 4.1 s later). Capped at one second, a peer that comes back is
reached within about a second, at the cost of one connection attempt a second while it is down.

A peer may run as several replicas behind one name (`dns:///seat:50051`): `round_robin` spreads
calls over every address the name resolves to and skips a dead one, where gRPC's default
(`pick_first`) would pin every call to the first address.
"""

from __future__ import annotations

import grpc

RECONNECT_OPTIONS: tuple[tuple[str, int | str], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.lb_policy_name", "round_robin"),
)


def open_channel(target: str) -> grpc.aio.Channel:
    """A channel to `target` (any gRPC target string) with the policies above."""
    return grpc.aio.insecure_channel(target, options=RECONNECT_OPTIONS)
