"""What each phase does to the processes, while the clients keep booking."""

from __future__ import annotations

import asyncio

from chaos import plan
from chaos.stack import LocalStack


async def disrupt(stack: LocalStack, phase: plan.Phase) -> None:
    kind, target = phase.kind, phase.target
    if kind == plan.KILL:
        await stack.kill9(target)
        await stack.restart(target)  # at once, on the same port and database
    elif kind in (plan.LONG_OUTAGE, plan.PARTICIPANT_OUTAGE):
        await stack.kill9(target)
        await asyncio.sleep(phase.outage_s)
        await stack.restart(target)
    elif kind == plan.SIGSTOP:
        # Alive but silent: connections are accepted, nothing answers until SIGCONT.
        stack.sigstop(target)
        try:
            await asyncio.sleep(phase.outage_s)
        finally:
            stack.sigcont(target)
    elif kind == plan.BLACKOUT:
        # The orchestrator first, so it sees none of its peers go (a power cut, not a drain).
        for name in ("orchestrator", *plan.PARTICIPANTS):
            await stack.kill9(name)
        await asyncio.sleep(0.5)
        await asyncio.gather(*(stack.restart(name) for name in plan.PARTICIPANTS))
        await stack.restart("orchestrator")
    elif kind not in (plan.FAULTS, plan.HANGUPS):
        raise ValueError(f"unknown phase kind {kind!r}")
