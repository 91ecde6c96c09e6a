"""Pipeline steps as plain, idempotent functions.

Each step takes explicit inputs (ids, keys, dates) and returns ids or keys. Airflow DAGs
(``dags/``) and the Luigi graph (``tasks/luigi_graph.py``) only wire these together; nothing
here imports Airflow. A step module imports no other step: what steps share lives in
``context`` (database engine, object store, quarantine), ``registry`` (what the pipeline has
recorded: the production model, models' files, dataset versions) and ``pages`` (reading stored
pages and recognizing their lines). Their SQL is in ``sql/queries``, loaded by name with
:func:`linerec.infra.db.query`.
"""
