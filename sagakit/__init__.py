"""The shared kit every FlightSaga service is built from.

config (env), logs/logformat/logstore (lines with correlation, trace and saga ids; each saga's
recent lines), context (contextvars), errors (domain exceptions -> gRPC status), validate,
participant_faults (x-fail / x-fault), interceptors, auth, tls,
channels/peers (clients of the services in sagas.services), db (the database protocol) with
databases/sqlite_db/postgres_db/writequeue/migrate, barrier (idempotency barrier), participant
(Do/Compensate through the barrier), server (bootstrap).
"""
