"""Pipeline steps as plain, idempotent functions.

Each step takes explicit inputs (ids, keys, dates) and returns ids or keys. Airflow DAGs
(``dags/``) and the Luigi graph (``tasks/luigi_graph.py``) only wire these together; nothing
here imports Airflow.
"""
