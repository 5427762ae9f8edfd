"""Tracing is off unless the OTEL_* variables ask for it; bad values name the variable."""

from __future__ import annotations

import pytest

from sagakit.config import ConfigError
from sagakit.tracing import TracingConfig


def test_off_by_default_and_on_with_an_endpoint() -> None:
    assert not TracingConfig.from_env({}).enabled
    on = TracingConfig.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"})
    assert on.enabled and on.exporter == "otlp"
    assert TracingConfig.from_env({"OTEL_TRACES_EXPORTER": "console"}).enabled
    for off in ({"OTEL_SDK_DISABLED": "true"}, {"OTEL_TRACES_EXPORTER": "none"}):
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", **off}
        assert not TracingConfig.from_env(env).enabled


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_SDK_DISABLED", "maybe"),
    ],
)
def test_bad_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=var):
        TracingConfig.from_env({var: value})
