"""`python -m bench`: run the benchmark (see bench/README.md)."""

import importlib
import sys

# `python -m bench MODE ...`: the modes with a module of their own; anything else is the stack.
MODES = {
    "scale": "bench.scale",  # the saga log's size
    "engine": "bench.engine",  # the engine alone
    "overload": "bench.overload",  # past capacity
    "guard": "bench.guard",  # orchestrator/relay against the committed figure
    "roundtrips": "bench.roundtrips",  # one transition's write, by shape and backend
}

mode = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in MODES else None
module = importlib.import_module(MODES[mode] if mode else "bench.cli")
raise SystemExit(module.main(sys.argv[2:]) if mode else module.main())
