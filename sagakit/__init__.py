"""The shared kit every FlightSaga service is built from.

config (env), logs/logformat/logstore/turnflush (lines with correlation, trace and saga ids;
each saga's recent lines), context (contextvars), errors (domain exceptions -> gRPC status),
validate, card_fields, participant_faults (x-fail / x-fault), interceptors, auth, tls, tracing,
metrics, channels (clients of peers), db (the database protocol) with databases/sqlite_db/
postgres_db/pgconn/pggate/pgsession/writequeue/migrate/retention, barrier (idempotency
barrier), participant (Do/Compensate through the barrier), records (the Records RPC: barrier
rows and effects), server (bootstrap), healthprobe (containers), testhooks.
"""
