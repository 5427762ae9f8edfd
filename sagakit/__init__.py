"""The shared kit every FlightSaga service is built from.

config (env), logs (console/JSON, correlation + saga ids), context (contextvars), errors
(domain exceptions -> gRPC status), validate (field checks), steps (wire step names),
faults (participant fault grammar), interceptors, db (SQLite on one thread), barrier
(idempotency barrier), participant (Do/Compensate through the barrier), server (bootstrap).
"""
