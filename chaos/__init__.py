"""`flightsaga chaos`: a seeded, bounded chaos campaign against a FlightSaga stack.

plan        the phases and every booking, derived from the seed alone (pure)
stack       the system under test: processes this campaign started (kill -9, SIGSTOP) or a target
workload    concurrent BookFlight clients that record every answer they got
disrupt     what each phase does to the processes
records     the participants' own records of every saga, read through their read RPCs
invariants  cross-service checks of those records (pure)
report      the human summary and the JSON report
campaign    runs it all; cli: the `flightsaga chaos` arguments
"""
