"""`flightsaga chaos`: a seeded, bounded chaos campaign against a FlightSaga stack.

plan        the phases and every booking, derived from the seed alone (pure)
stack       the system under test: processes this campaign started (kill -9, SIGSTOP) or a target
workload    concurrent BookFlight clients; disrupt: what each phase does to the processes
records     the participants' own records of every saga; invariants: their cross-service checks
report      the human summary and the JSON report; campaign runs it all; cli: its arguments
"""
