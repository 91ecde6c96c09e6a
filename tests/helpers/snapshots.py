"""Whole-state snapshots for rerun tests: every table's rows and every object key with its ETag.

A step or DAG that is idempotent leaves :func:`snapshot` unchanged when it runs again;
:func:`assert_same` names the tables (and ``s3``) whose contents differ.
"""

from __future__ import annotations

import sqlalchemy as sa

# Bookkeeping a rerun refreshes by design: when a recognition run last finished and how long it took.
VOLATILE = {"recognition_runs": {"finished_at", "seconds"}}


def snapshot(engine) -> dict:
    """Every row of every table (sorted; columns in VOLATILE left out) and every object key with its ETag."""
    from tasks.context import store

    out = {}
    with engine.connect() as conn:
        tables = [
            r[0]
            for r in conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
        ]
        for t in tables:
            result = conn.execute(sa.text(f'SELECT * FROM "{t}"'))
            keep = [i for i, c in enumerate(result.keys()) if c not in VOLATILE.get(t, ())]
            out[t] = sorted((tuple(r[i] for i in keep) for r in result), key=repr)
    st = store()
    objects = []
    for page in st.client.get_paginator("list_objects_v2").paginate(Bucket=st.bucket):
        objects += [(o["Key"], o["ETag"]) for o in page.get("Contents", [])]
    out["s3"] = sorted(objects)
    return out


def assert_same(before: dict, after: dict) -> None:
    changed = {k: (len(before[k]), len(after.get(k, []))) for k in before if before[k] != after.get(k)}
    assert changed == {}, f"rerun changed (rows before, after): {changed}"
