"""FlightSaga's web dashboard: an HTTP service (FastAPI) that is only a client of the gRPC APIs.

`python -m dashboard` serves the pages (test page, sagas, flights) from dashboard/static and a
JSON API under /api (documented at /openapi.json and /docs).
"""
