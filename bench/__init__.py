"""Benchmarks: saga throughput and latency against the raw participant call chain.

`python -m bench` (or `make bench`); see bench/README.md. Never timed asserts in tests.
"""
