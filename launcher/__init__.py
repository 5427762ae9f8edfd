"""The local process supervisor behind `flightsaga up` (launcher.supervisor), with the free
ports it starts services on (launcher.ports) and the lock on its data folder (launcher.datadir).

Not part of any service: it starts and watches all of them (the participants, the orchestrator,
the dashboard) as child processes, for `flightsaga up`, the benchmark, the chaos campaign and
the end-to-end tests.
"""
