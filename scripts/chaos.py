"""``make chaos``: run the fault-injection suite (tests/chaos) and print what it survived.

Each chaos test records one JSON line per run (fault, survived, rows lost, duplicates) into a
report file given to it through ``LINEREC_CHAOS_REPORT``; a test that failed counts as a run that
did not survive. The table: fault, runs, survived, rows lost (target 0), duplicates (target 0).

Usage: ``scripts/chaos.py [--runs N] [pytest args...]`` (``--runs`` repeats the whole suite).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

from linerec.infra.config import script_knob

REPO = Path(__file__).resolve().parent.parent


def summarize(rows: list[dict]) -> list[dict]:
    """Per fault (first-seen order): runs, survived, rows lost and duplicates (None: unknown)."""
    table: OrderedDict[str, dict] = OrderedDict()
    for row in rows:
        t = table.setdefault(
            row["fault"],
            {"fault": row["fault"], "runs": 0, "survived": 0, "rows_lost": 0, "duplicates": 0, "outcomes": []},
        )
        t["runs"] += 1
        t["survived"] += bool(row["survived"])
        for key in ("rows_lost", "duplicates"):
            t[key] = None if t[key] is None or row.get(key) is None else t[key] + row[key]
        if row.get("outcome") and row["outcome"] not in t["outcomes"]:
            t["outcomes"].append(row["outcome"])
    return list(table.values())


def render(table: list[dict]) -> str:
    head = ["fault", "runs", "survived", "rows lost", "duplicates", "outcome"]
    body = [
        [
            t["fault"],
            str(t["runs"]),
            str(t["survived"]),
            "?" if t["rows_lost"] is None else str(t["rows_lost"]),
            "?" if t["duplicates"] is None else str(t["duplicates"]),
            "; ".join(t["outcomes"]),
        ]
        for t in table
    ]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs",
        type=int,
        default=script_knob("CHAOS_RUNS", 1),
        help="how many times to run the suite (default 1, or CHAOS_RUNS)",
    )
    args, pytest_args = parser.parse_known_args(argv)
    report = Path(tempfile.mkdtemp(prefix="linerec-chaos-")) / "chaos.jsonl"
    env = dict(os.environ, LINEREC_CHAOS_REPORT=str(report))
    status = 0
    for n in range(1, args.runs + 1):
        print(f"[chaos] run {n}/{args.runs}: pytest tests/chaos", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-m", "chaos", "tests/chaos", *pytest_args], cwd=REPO, env=env
        )
        status = status or proc.returncode
    rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    if not rows:
        print("[chaos] no chaos run was recorded", file=sys.stderr)
        return status or 1
    table = summarize(rows)
    print()
    print(render(table))
    bad = [t["fault"] for t in table if t["survived"] < t["runs"] or t["rows_lost"] or t["duplicates"]]
    print(
        f"\n[chaos] {sum(t['runs'] for t in table)} runs of {len(table)} faults; "
        + (f"NOT survived or lost/duplicated rows: {bad}" if bad else "all survived, 0 rows lost, 0 duplicates")
    )
    return status or (1 if bad else 0)


if __name__ == "__main__":
    sys.exit(main())
