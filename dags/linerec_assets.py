"""Assets shared by the linerec DAGs (what one DAG produces and another is scheduled on)."""

from airflow.sdk import Asset

ANNOTATIONS = Asset(name="linerec_annotations", uri="x-linerec://postgres/line_annotations")
PRODUCTION_MODEL = Asset(name="linerec_production_model", uri="x-linerec://postgres/models/production")
PREDICTIONS = Asset(name="linerec_predictions", uri="x-linerec://postgres/predictions")
