"""Assets of the linerec DAGs: each is a task's ``outlets``, so the task emits an event of it on every success.

``ANNOTATIONS``: annotation_sync's ``ingest_export``; the training DAG is scheduled on it.
``PRODUCTION_MODEL``: training's ``evaluate_and_promote`` (promoted or not).
``PREDICTIONS``: nightly_recognition's ``finish``. No DAG is scheduled on these two.
"""

from airflow.sdk import Asset

ANNOTATIONS = Asset(name="linerec_annotations", uri="x-linerec://postgres/line_annotations")
PRODUCTION_MODEL = Asset(name="linerec_production_model", uri="x-linerec://postgres/models/production")
PREDICTIONS = Asset(name="linerec_predictions", uri="x-linerec://postgres/predictions")
