"""The alert notifier's webhook URL from the ``linerec_alerts`` Airflow Connection, in its three forms,
and the JSON body built from a failed task's context."""

from __future__ import annotations

import pytest

import local_runner  # noqa: F401  (configures Airflow before it is imported)
from linerec_alerts import AlertNotifier, webhook_url


@pytest.mark.parametrize(
    "value, url",
    [
        ("https://hooks.example.com/services/T0/B0/xyz", "https://hooks.example.com/services/T0/B0/xyz"),
        ("http://127.0.0.1:8123/hooks/linerec", "http://127.0.0.1:8123/hooks/linerec"),
        ('{"conn_type": "http", "extra": {"url": "http://10.0.0.1:9000/a?b=c"}}', "http://10.0.0.1:9000/a?b=c"),
    ],
)
def test_webhook_url_forms(monkeypatch, value, url):
    monkeypatch.setenv("AIRFLOW_CONN_LINEREC_ALERTS", value)
    assert webhook_url() == url


def test_no_connection_means_no_webhook(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_LINEREC_ALERTS", raising=False)
    assert webhook_url("linerec_alerts_not_defined") is None


def test_payload_carries_the_alerts_of_the_cause():
    class Alerting(Exception):
        alerts = [{"signal": "page_contrast", "against": "training", "value": 2.4}]
        report_uri = "s3://b/reports/monitoring/x/report.md"

    try:
        try:
            raise Alerting("run 3: 1 quality alert(s)")
        except Alerting as exc:
            raise RuntimeError("run 3: 1 quality alert(s)") from exc
    except RuntimeError as failed:
        body = AlertNotifier.payload({"exception": failed})
    assert body["alerts"] == Alerting.alerts and body["report"] == Alerting.report_uri
    assert "run 3: 1 quality alert(s)" in body["text"]
