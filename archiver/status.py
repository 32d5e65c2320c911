"""What ``archiver status`` reports: sources, queue counts by state, recent failures."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archiver.index.models import CaptureJob, JobState, iso
from archiver.sources.registry import list_sources
from archiver.workers import worker_exited


def queue_counts(session: Session) -> dict[str, int]:
    counts = {state.value: 0 for state in JobState}
    rows = session.execute(select(CaptureJob.state, func.count()).group_by(CaptureJob.state))
    for state, count in rows:
        counts[state] = count
    return counts


def recent_failures(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(CaptureJob)
        .where(CaptureJob.state.in_([JobState.FAILED, JobState.GONE]))
        .order_by(CaptureJob.updated_at.desc())
        .limit(limit)
    )
    return [
        {
            "url": job.url,
            "state": job.state,
            "reason": job.last_error,
            "attempts": job.attempts,
            "failed_at": iso(job.updated_at),
            "next_attempt_at": iso(job.next_attempt_at),
        }
        for job in rows
    ]


def interrupted_jobs(session: Session) -> int:
    """How many of the running jobs were left by processes of this host that have
    exited (killed, crashed): none runs them, though their rows say so until the next
    start takes them up, or their lease runs out."""
    owners = session.execute(
        select(CaptureJob.lease_owner, func.count())
        .where(CaptureJob.state == JobState.RUNNING)
        .group_by(CaptureJob.lease_owner)
    )
    return sum(count for owner, count in owners if worker_exited(owner))


def status_report(session: Session) -> dict[str, Any]:
    return {
        "sources": [view.to_json() for view in list_sources(session)],
        "queue": queue_counts(session),
        "interrupted": interrupted_jobs(session),
        "recent_failures": recent_failures(session),
    }
