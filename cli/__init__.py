"""`flightsaga`, the umbrella command line: book and follow sagas, run a stack, run chaos.

It sits above every other package (orchestrator, chaos, launcher, tooling), and nothing
imports it: `cli.main` builds the parser from one module per command group and dispatches.
"""
