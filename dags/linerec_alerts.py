"""Alerts of the project's DAGs: a notifier that writes the failure to the task log and, when the
Airflow Connection ``linerec_alerts`` exists, POSTs it as JSON to that Connection's URL.

The Connection holds only a URL, e.g. ``AIRFLOW_CONN_LINEREC_ALERTS=https://hooks.example.com/services/T0/B0/x``
(or ``{"conn_type": "http", "extra": {"url": "https://..."}}``). The body is
``{"text": ..., "dag_id", "run_id", "task_id", "logical_date", "alerts": [...], "report": ...}``;
``text`` makes it readable by Slack / Mattermost style incoming webhooks. The URL is never logged
(it often holds a token).
"""

from __future__ import annotations

import json
import urllib.request

from airflow.sdk import BaseNotifier

ALERTS_CONN_ID = "linerec_alerts"


def webhook_url(conn_id: str = ALERTS_CONN_ID) -> str | None:
    """The webhook URL of Airflow Connection ``conn_id``; None when that Connection is not defined."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        return None
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return str(extra["url"])
    host = conn.host or ""
    if not host:
        raise ValueError(f"Airflow Connection {conn_id!r} has neither a host nor an extra 'url'")
    if "://" not in host:
        scheme = conn.conn_type if conn.conn_type in ("http", "https") else extra.get("scheme", "https")
        host = f"{scheme}://{host}"
    if conn.port:
        host = f"{host.rstrip('/')}:{conn.port}"
    return f"{host.rstrip('/')}/{conn.schema.lstrip('/')}" if conn.schema else host


class AlertNotifier(BaseNotifier):
    """On a task's failure: the message to the task log, and to the alerts webhook when one is set.

    The message is the task's exception. When that exception (or its cause) carries ``alerts``
    (dicts or objects with ``as_dict``) and ``report_uri``, they go into the JSON body too.
    """

    template_fields = ("conn_id",)

    def __init__(self, conn_id: str = ALERTS_CONN_ID, timeout: float = 10.0):
        super().__init__()
        self.conn_id = conn_id
        self.timeout = timeout

    @staticmethod
    def payload(context) -> dict:
        exc = context.get("exception")
        source = next((e for e in (exc, getattr(exc, "__cause__", None)) if hasattr(e, "alerts")), None)
        ti = context.get("ti") or context.get("task_instance")
        dag_run = context.get("dag_run")
        dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None)
        task_id = getattr(ti, "task_id", None)
        run_id = getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None)
        logical = context.get("logical_date") or getattr(dag_run, "logical_date", None)
        alerts = [a.as_dict() if hasattr(a, "as_dict") else a for a in getattr(source, "alerts", [])]
        return {
            "text": f"linerec alert from {dag_id}.{task_id} (run {run_id}): {exc}",
            "dag_id": dag_id,
            "task_id": task_id,
            "run_id": run_id,
            "logical_date": str(logical) if logical else None,
            "alerts": alerts,
            "report": getattr(source, "report_uri", None),
        }

    def notify(self, context) -> None:
        body = self.payload(context)
        self.log.error("ALERT %s", body["text"])
        url = webhook_url(self.conn_id)
        if url is None:
            self.log.info("no Airflow Connection %r: the alert went to the task log only", self.conn_id)
            return
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - configured URL
            self.log.info("alert sent to the webhook of Connection %r: HTTP %s", self.conn_id, response.status)
