"""What `watchpost` exits with, and how one `once` run's outcome maps to it. No I/O.

Cron and monitors tell the outcomes apart by the status alone (issue 7): a run that polled
nothing or delivered nothing must not look like one that did its work.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitStatus", "once_status"]


class ExitStatus(IntEnum):
    """The documented exit statuses (README: "Exit statuses")."""

    #: every source polled, every deliverable alert delivered
    OK = 0
    #: an unexpected error (a bug): Python's own status for an uncaught exception
    ERROR = 1
    #: bad configuration or usage, or the worker must not start as configured
    USAGE = 2
    #: some sources failed, or some alerts are still waiting: the rest was done
    PARTIAL = 3
    #: every source failed, or there were alerts and none could be delivered
    FAILED = 4


def once_status(
    *, sources: int, failed_sources: int, delivered: int, undelivered: int
) -> ExitStatus:
    """The status of one `once` run.

    Args:
        sources: how many sources were polled.
        failed_sources: how many of them failed.
        delivered: alerts sent (or shown, in console mode) by the run.
        undelivered: alerts the run tried and could not deliver (to retry, or refused).
    """
    if sources > 0 and failed_sources >= sources:
        return ExitStatus.FAILED
    if undelivered > 0 and delivered == 0:
        return ExitStatus.FAILED
    if failed_sources > 0 or undelivered > 0:
        return ExitStatus.PARTIAL
    return ExitStatus.OK
