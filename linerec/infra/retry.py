"""The one retry policy of the clients of linerec's services (S3, Postgres, Label Studio).

:func:`retrying` builds a :class:`tenacity.Retrying` from what differs between the clients:

* which errors are transient (a predicate per client); any other error is raised at once, unchanged;
* how long to keep trying: a deadline in seconds (no retry starts whose wait would end past it),
  a number of attempts, or both;
* the backoff: the n-th wait is ``min(max_delay, first_delay * 2**(n-1))`` seconds times a jitter
  factor drawn from [0.5, 1], so that clients failing together do not retry in step;
* what a spent budget raises: the client builds a
  :class:`~linerec.infra.endpoints.ServiceUnavailable` (one line: what failed, where, after how many
  attempts, what to do) from an :class:`Exhausted` record.

Every retry is logged as a warning naming the service, the call, the error and the wait.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import tenacity

from linerec.infra.endpoints import ServiceUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Exhausted:
    """A call whose retry budget is spent.

    Attributes
    ----------
    what
        The call, as the client named it ("get s3://linerec/pages/ab.png").
    attempts
        Tries made, the first included.
    seconds
        Seconds from the start of the first try to the end of the last.
    error
        The last try's error.
    """

    what: str
    attempts: int
    seconds: float
    error: BaseException


def error_name(exc: BaseException) -> str:
    """The error's type name: how a retry's log line describes an error by default."""
    return type(exc).__name__


class _JitteredExponential(tenacity.wait_exponential):
    """tenacity's exponential wait (``first * 2**(n-1)``, capped) times a factor drawn from [0.5, 1]."""

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return super().__call__(retry_state) * random.uniform(0.5, 1.0)


def _last_error(state: tenacity.RetryCallState) -> BaseException:
    """The error of the try that just failed (the policy retries errors only, never results)."""
    error = state.outcome.exception() if state.outcome is not None else None
    if error is None:
        raise RuntimeError("a retry without a failed try")  # tenacity retries only on our predicate's errors
    return error


def retrying(
    service: str,
    what: str,
    *,
    transient: Callable[[BaseException], bool],
    give_up: Callable[[Exhausted], ServiceUnavailable],
    seconds: float | None = None,
    attempts: int | None = None,
    first_delay: float = 0.5,
    max_delay: float = 8.0,
    describe: Callable[[BaseException], str] = error_name,
    sleep: Callable[[float], None] | None = None,
    logger: logging.Logger | None = None,
    chain: bool = False,
) -> tenacity.Retrying:
    """A retry policy for one call: ``retrying(...)(call)`` runs ``call()`` under it.

    Parameters
    ----------
    service
        The service, first word of every log line ("S3", "Postgres", "Label Studio").
    what
        The call, for log lines and :class:`Exhausted`.
    transient
        Whether an error may go away by itself; only those are retried.
    give_up
        Builds the error raised when the budget is spent (a :class:`ServiceUnavailable` with one line).
    seconds
        Deadline from the start of the first try: a retry whose wait would end past it is not made.
    attempts
        Most tries in all (>= 1). At least one of ``seconds`` and ``attempts`` must be given.
    first_delay, max_delay
        The first wait and the cap of the doubling waits (before the jitter factor).
    describe
        The error as a log line shows it (default: its type name).
    sleep
        Waits (default :func:`time.sleep`); tests pass a recorder.
    logger
        Where retries are logged (default this module's logger).
    chain
        Raise the ``give_up`` error from the last error (its traceback shown as the cause) instead
        of alone.

    Returns
    -------
    tenacity.Retrying
        Call it with the function to run (no arguments needed).

    Raises
    ------
    ValueError
        Neither ``seconds`` nor ``attempts`` given, or ``attempts`` < 1.
    """
    if seconds is None and attempts is None:
        raise ValueError("a retry policy needs a deadline (seconds) or a number of attempts")
    if attempts is not None and attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    stops: list[tenacity.stop.stop_base] = []
    if seconds is not None:
        stops.append(tenacity.stop_before_delay(seconds))
    if attempts is not None:
        stops.append(tenacity.stop_after_attempt(attempts))
    out = logger or log

    def before_sleep(state: tenacity.RetryCallState) -> None:
        out.warning(
            "%s: %s failed (%s); retry %d in %.1fs",
            service,
            what,
            describe(_last_error(state)),
            state.attempt_number,
            state.upcoming_sleep,
        )

    def exhausted(state: tenacity.RetryCallState):
        last = _last_error(state)
        error = give_up(Exhausted(what, state.attempt_number, state.seconds_since_start or 0.0, last))
        raise error from (last if chain else None)

    return tenacity.Retrying(
        stop=tenacity.stop_any(*stops),
        wait=_JitteredExponential(multiplier=first_delay, max=max_delay),
        retry=tenacity.retry_if_exception(transient),
        before_sleep=before_sleep,
        retry_error_callback=exhausted,
        sleep=sleep or time.sleep,
        reraise=True,
    )
