"""The local process supervisor behind `flightsaga up` (launcher.supervisor).

Not part of any service: it starts and watches all of them (the participants, the orchestrator,
the dashboard) as child processes, for `flightsaga up`, the benchmark, the chaos campaign and
the end-to-end tests.
"""
