"""The environment variables a DAG file reads while it is parsed, read in one place.

A DAG file imports nothing of linerec at parse time (the DAG processor parses it often; see
``tests/dags/test_dag_integrity.py``), so the few values that shape a DAG itself (the training
form's bound, the training task's queue, how many recognition batches run at once, the inbox
scan's timeout) are read here, with the names and defaults of
:class:`linerec.infra.config.Settings`, through which the steps read (and check) the same values.
"""

from __future__ import annotations

import os


def env_number(name: str, default: float, kind: type = int, minimum: float = 1) -> float:
    """The variable ``name`` as a ``kind`` (``int`` or ``float``) of at least ``minimum``, or ``default`` when unset.

    Raises
    ------
    ValueError
        The value is not such a number; the message names the variable.
    """
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{name}={raw!r} is not {what} of at least {minimum}")
    return value


def env_text(name: str, default: str) -> str:
    """The variable ``name``, or ``default`` when unset or empty."""
    return os.environ.get(name) or default
