"""DAG integrity: every DAG parses, is tagged, retries, and imports without heavy libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

import local_runner

EXPECTED = {"annotation_sync", "training", "nightly_recognition"}


@pytest.fixture(scope="module")
def dags():
    return local_runner.load_dags()


def test_all_dags_load_without_errors(dags):
    assert EXPECTED <= set(dags)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_tags_retries_and_docs(dags, dag_id):
    dag = dags[dag_id]
    assert "linerec" in dag.tags
    assert dag.doc_md
    for task in dag.tasks:
        assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_schedules(dags):
    assert dags["nightly_recognition"].timetable.expression == "0 2 * * *"
    # training runs when annotation_sync updates the annotations asset
    assert "linerec_annotations" in repr(dags["training"].timetable.asset_condition)


def test_outlets_connect_dags(dags):
    outlets = {o.name for t in dags["annotation_sync"].tasks for o in t.outlets}
    assert "linerec_annotations" in outlets


@pytest.mark.parametrize("dag_file", ["annotation_sync", "training", "nightly_recognition"])
def test_dag_file_imports_without_heavy_libraries(dag_file):
    code = (
        "import sys, time; sys.path.insert(0, 'dags'); t = time.perf_counter(); "
        f"import {dag_file}; dt = time.perf_counter() - t; "
        "heavy = [m for m in ('tensorflow', 'keras', 'boto3', 'pandas', 'horovod', 'linerec', 'tasks') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(local_runner.DAGS_FOLDER.parent),
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
