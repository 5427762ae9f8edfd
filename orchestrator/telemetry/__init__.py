"""What the orchestrator reports about its sagas: counts, Prometheus metrics, OpenTelemetry
traces. Each is a SagaObserver (orchestrator/engine/observer.py) the runner calls."""
