"""`python -m bench`: run the benchmark (see bench/README.md)."""

import sys

if sys.argv[1:2] == ["scale"]:  # `python -m bench scale`: the saga log's size (bench/scale.py)
    from bench.scale import main as scale

    raise SystemExit(scale(sys.argv[2:]))

if sys.argv[1:2] == ["engine"]:  # `python -m bench engine`: the engine alone (bench/engine.py)
    from bench.engine import main as engine

    raise SystemExit(engine(sys.argv[2:]))

if sys.argv[1:2] == ["overload"]:  # `python -m bench overload`: past capacity (bench/overload.py)
    from bench.overload import main as overload

    raise SystemExit(overload(sys.argv[2:]))
if sys.argv[1:2] == ["guard"]:  # `python -m bench guard`: orchestrator/relay (bench/guard.py)
    from bench.guard import main as guard

    raise SystemExit(guard(sys.argv[2:]))

from bench.cli import main

raise SystemExit(main())
