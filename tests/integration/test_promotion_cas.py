"""Promotion is a compare-and-swap: a candidate replaces the production model it was compared with,
or nothing.

Two promotions race for real on two connections of the test Postgres. The models' test CERs are
stored in ``evaluations`` beforehand, so :func:`tasks.evaluate.promote_if_better` compares them
without loading a model (an existing evaluation is returned as is).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from tasks.evaluate import PromotionConflict, promote_if_better, swap_production


@pytest.fixture
def models(isolated_pipeline):
    """``make(cers)``: a dataset version and one model per CER (the first production, others
    candidates), each with its test evaluation; returns their ids in order."""
    eng = isolated_pipeline
    with eng.begin() as conn:
        conn.execute(sa.text("TRUNCATE evaluations, models, dataset_versions, annotation_exports CASCADE"))

    def make(cers: list[float], production: bool = True) -> list[int]:
        tag = uuid.uuid4().hex[:8]
        with eng.begin() as conn:
            export = conn.execute(
                sa.text(
                    "INSERT INTO annotation_exports (source, source_ref, sha256, s3_key) "
                    "VALUES ('file', :r, :s, :k) RETURNING export_id"
                ),
                {"r": f"promo-{tag}.json", "s": tag * 8, "k": f"exports/{tag}.json"},
            ).scalar_one()
            dv = conn.execute(
                sa.text(
                    "INSERT INTO dataset_versions (version, export_id, manifest_key, config, n_train, n_val, n_test) "
                    "VALUES (:v, :e, :k, '{}', 1, 1, 1) RETURNING dataset_version_id"
                ),
                {"v": f"ds-{tag}", "e": export, "k": f"datasets/{tag}/manifest.json"},
            ).scalar_one()
            ids = []
            for i, cer in enumerate(cers):
                status = "production" if i == 0 and production else "candidate"
                mid = conn.execute(
                    sa.text(
                        "INSERT INTO models (version, dataset_version_id, s3_prefix, status) "
                        "VALUES (:v, :dv, :p, :s) RETURNING model_id"
                    ),
                    {"v": f"crnn-{tag}-{i}", "dv": dv, "p": f"models/{tag}-{i}/", "s": status},
                ).scalar_one()
                conn.execute(
                    sa.text(
                        "INSERT INTO evaluations (model_id, dataset_version_id, split, cer, n_lines) "
                        "VALUES (:m, :dv, 'test', :c, 10)"
                    ),
                    {"m": mid, "dv": dv, "c": cer},
                )
                ids.append(mid)
        return ids

    return make


def _statuses(eng, ids: list[int]) -> list[str]:
    with eng.connect() as conn:
        rows = dict(
            conn.execute(sa.text("SELECT model_id, status FROM models WHERE model_id = ANY(:ids)"), {"ids": ids}).all()
        )
    return [rows[i] for i in ids]


def _wait_until_blocked(eng, timeout: float = 60) -> None:
    """Return once some other backend of this database waits for a lock (the racing promotion)."""
    deadline = time.monotonic() + timeout
    with eng.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            ).scalar()
            conn.commit()
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("the racing promotion never waited for a lock")


def _in_thread(fn, *args) -> dict:
    out: dict = {}

    def run():
        try:
            out["result"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    out["thread"] = thread
    return out


def test_better_candidate_retires_exactly_the_model_it_was_compared_with(isolated_pipeline, models):
    prod, cand = models([0.5, 0.3])
    decision = promote_if_better(cand)
    assert decision["promoted"] and decision["production_model_id"] == prod
    assert _statuses(isolated_pipeline, [prod, cand]) == ["retired", "production"]


def test_concurrent_promotion_from_the_same_production_loses_cleanly(isolated_pipeline, models):
    """A and B were both compared with P; A's promotion commits while B's is under way."""
    prod, a, b = models([0.5, 0.3, 0.4])
    with isolated_pipeline.connect() as conn:
        conn.begin()
        swap_production(conn, a, prod)  # A's promotion, not committed yet: holds the promotion lock
        race = _in_thread(promote_if_better, b)
        _wait_until_blocked(isolated_pipeline)
        conn.commit()
    race["thread"].join(120)
    assert "error" not in race, race.get("error")
    decision = race["result"]
    assert decision["promoted"] is False and decision["production_model_id"] == prod
    assert (
        "lost to a concurrent promotion" in decision["reason"] and f"production is now model {a}" in decision["reason"]
    )
    assert _statuses(isolated_pipeline, [prod, a, b]) == ["retired", "production", "candidate"]


def test_promotion_by_a_writer_without_the_lock_is_not_overwritten(isolated_pipeline, models):
    """Another writer retires P and promotes A in one transaction while B's promotion runs."""
    prod, a, b = models([0.5, 0.3, 0.4])
    with isolated_pipeline.connect() as conn:
        conn.begin()
        conn.execute(sa.text("UPDATE models SET status = 'retired' WHERE model_id = :p"), {"p": prod})
        conn.execute(sa.text("UPDATE models SET status = 'production' WHERE model_id = :a"), {"a": a})
        race = _in_thread(promote_if_better, b)
        _wait_until_blocked(isolated_pipeline)  # B waits for the production row A's writer holds
        conn.commit()
    race["thread"].join(120)
    assert "error" not in race, race.get("error")
    decision = race["result"]
    assert decision["promoted"] is False and "lost to a concurrent promotion" in decision["reason"]
    assert _statuses(isolated_pipeline, [prod, a, b]) == ["retired", "production", "candidate"]


def test_first_promotion_races_without_a_production_model(isolated_pipeline, models):
    a, b = models([0.3, 0.4], production=False)
    with isolated_pipeline.connect() as conn:
        conn.begin()
        swap_production(conn, a, None)
        race = _in_thread(promote_if_better, b)
        _wait_until_blocked(isolated_pipeline)
        conn.commit()
    race["thread"].join(120)
    assert "error" not in race, race.get("error")
    assert race["result"]["promoted"] is False
    assert f"it was compared with no production model, but production is now model {a}" in race["result"]["reason"]
    assert _statuses(isolated_pipeline, [a, b]) == ["production", "candidate"]


def test_swap_refuses_a_model_that_is_no_longer_a_candidate(isolated_pipeline, models):
    prod, cand = models([0.5, 0.3])
    with isolated_pipeline.begin() as conn:
        conn.execute(sa.text("UPDATE models SET status = 'retired' WHERE model_id = :c"), {"c": cand})
    with pytest.raises(PromotionConflict, match="no longer a candidate"):
        with isolated_pipeline.begin() as conn:
            swap_production(conn, cand, prod)
    assert _statuses(isolated_pipeline, [prod, cand]) == ["production", "retired"]  # rolled back
