"""A testing kit for saga authors: participant conformance (does a service keep the contract
the orchestrator relies on?), usable from the CLI (`flightsaga conform`) and from pytest
(testkit.pytest_plugin), and the scenario matrix (testkit.matrix, `flightsaga matrix`). Lives
beside the services, not in sagakit: it is a client of them.
"""

from testkit.conformance import CLAUSES, conform
from testkit.report import ClauseResult, Report
from testkit.subject import Subject

__all__ = ["CLAUSES", "ClauseResult", "Report", "Subject", "conform"]
