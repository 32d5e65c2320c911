"""Capture: from a URL to stored, hashed originals with provenance.

``capture_url`` takes a page (or a direct media / platform URL), stores the page
version, finds its embeds, turns each into a durable job and runs those jobs.
``run_job`` is the one place a job is executed; the daemon calls it too.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from PIL import Image
from sqlalchemy import Select, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session, selectinload

from archiver import __version__, jobs, workers
from archiver.archive import Archive
from archiver.errors import (
    ArchiverError,
    ArchiveUnavailable,
    FetchError,
    Interrupted,
    storage_error,
)
from archiver.extract import (
    ExtractError,
    FoundEmbed,
    PageExtraction,
    UnusableEmbed,
    extract_player_media,
    normalize_url,
)
from archiver.extract.urls import clean_url, respelled_only
from archiver.fetch.facts import player_facts, post_facts, post_title, ytdlp_facts
from archiver.fetch.http import (
    HTTPX_VERSION,
    Document,
    Download,
    HttpFetcher,
    Response,
    is_refusal,
)
from archiver.fetch.limits import host_of
from archiver.fetch.post_readers import PostReader, post_reader
from archiver.fetch.posts import PlatformPost
from archiver.fetch.ytdlp import FORMAT_FIELDS, PartialDownload, PlatformFile, YtdlpError
from archiver.index.debts import (
    media_debts,
    outstanding,
    owe_media_sidecars,
    owe_page_sidecar,
    page_debts,
    pay,
)
from archiver.index.models import (
    CaptureJob,
    Embed,
    JobState,
    Media,
    Page,
    PageSnapshot,
    Sighting,
    utcnow,
)
from archiver.index.placements import (
    PageIntent,
    PlacementIntent,
    done,
    intend,
    left_over,
    pending_companions,
    spend_intents,
)
from archiver.index.records import (
    Acquisition,
    PlatformFacts,
    live_source,
    placement_texts,
    retitle_page,
    search_document,
    title_held,
    upsert_embed,
    upsert_media,
    upsert_page,
    upsert_sighting,
    upsert_snapshot,
    with_sighting,
)
from archiver.integrity.eventlog import logged_session, record
from archiver.integrity.events import record_capture, record_embed_changes, record_sighting
from archiver.integrity.events import record_page as record_page_event
from archiver.jobs import Outcome
from archiver.logs import log_event
from archiver.older_pages import (
    OLDER_PAGE_FAILED,
    OlderPageReader,
    OlderPages,
    links_older_page,
    read_page,
)
from archiver.sources.feed import looks_like_feed
from archiver.store.atomic import locked_dir, temp_file
from archiver.store.digest import Digests, hash_file
from archiver.store.layout import SIDECAR
from archiver.store.mediatypes import (
    MediaIdentity,
    extension_for,
    head_of,
    identify,
    is_markup,
    is_stream_manifest,
)
from archiver.store.objects import (
    ORIGINAL,
    PAGE_FILE,
    Damaged,
    find_original,
    place_companions,
    place_original,
    place_page,
    remove_unplaced_companions,
)
from archiver.store.sidecar import (
    listed_companions,
    media_document,
    page_document,
    recorded_companions,
    write_sidecar,
)

ItemStatus = Literal["stored", "already", "skipped", "queued", "failed", "gone"]
ICON_SIZE = 48  # images no larger than this on both sides are site chrome, not evidence
YTDLP_TOOL = "yt-dlp"  # a sighting's tool when yt-dlp downloaded its bytes


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    path: Path
    media_type: str
    new: bool  # False when identical bytes were already in the archive
    near_duplicates: dict[str, Any] | None = None  # group, earliest, matches (new files)

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "path": str(self.path),
            "media_type": self.media_type,
            "new": self.new,
            "near_duplicates": self.near_duplicates,
        }


#: Embeds recorded from one page version, in page order: each is a row and a job in one
#: transaction, and a page of 100,000 images held the archive's write lock (SQLite)
#: for minutes before its first download; the rest are logged (`page.embeds_capped`).
MAX_EMBEDS_PER_PAGE = 2000


@dataclass
class ItemResult:
    """The outcome for one embed (or for the URL itself when captured directly)."""

    url: str
    original_url: str
    found_in: str
    update: str | None
    context: str | None
    status: ItemStatus
    files: list[StoredFile] = field(default_factory=list)
    reason: str | None = None

    @property
    def failed(self) -> bool:
        """Not archived by this capture: it failed, is gone, or another worker (the
        daemon) was capturing it at that moment ("queued")."""
        return self.status in ("failed", "gone", "queued")

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "original_url": self.original_url,
            "found_in": self.found_in,
            "update": self.update,
            "context": self.context,
            "status": self.status,
            "reason": self.reason,
            "files": [f.to_json() for f in self.files],
        }


@dataclass
class CaptureReport:
    url: str
    page_sha256: str | None = None
    page_changed: bool = False
    title: str | None = None
    items: list[ItemResult] = field(default_factory=list)
    error: str | None = None
    older_pages: int = 0  # older pages of a page split into pages, read and recorded

    @property
    def ok(self) -> bool:
        return self.error is None and not any(item.failed for item in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "error": self.error,
            "page_sha256": self.page_sha256,
            "page_changed": self.page_changed,
            "title": self.title,
            "older_pages": self.older_pages,
            "items": [item.to_json() for item in self.items],
        }


@dataclass(frozen=True)
class PlacedVersion:
    """A page version's bytes in place, and the intent that indexes them."""

    intent: PageIntent
    path: Path
    placement_id: int


@dataclass
class RecordedPage:
    """A page version stored and its embeds turned into jobs."""

    page_id: int
    sha256: str
    changed: bool  # a version not seen before
    title: str | None
    jobs: list[tuple[int, int]] = field(default_factory=list)  # (job id, embed id)
    new_embeds: int = 0
    removed: list[int] = field(default_factory=list)  # embeds judged gone from the page
    # embeds judged removed before that the page holds again: (embed id, removed at)
    returned: list[tuple[int, datetime]] = field(default_factory=list)
    # what the page lacks was left to the next poll, which records it whatever it holds
    # and judges it then (an earlier version served again: a page gone back to it)
    judgement_owed: bool = False

    @property
    def removed_embeds(self) -> int:
        return len(self.removed)

    @property
    def returned_embeds(self) -> int:
        return len(self.returned)


class Skip(ArchiverError):
    """Fetched, but not evidence (an icon-sized image)."""


OnItem = Callable[[ItemResult], None]


class Capturer:
    """Runs captures against one Archive; safe to share between worker threads."""

    def __init__(self, archive: Archive, owner: str | None = None) -> None:
        self.archive = archive
        self.owner = owner or workers.worker_id()
        self.lease = timedelta(seconds=archive.config.daemon.lease)
        self.leases = jobs.LeaseKeeper(archive.session, self.owner, self.lease)

    @property
    def http(self) -> HttpFetcher:
        return self.archive.http

    @property
    def tmp(self) -> Path:
        return self.archive.layout.process_tmp()

    # ---- the URL given by a person, a source or the API --------------------------------

    def capture_url(
        self, url: str, on_item: OnItem | None = None, *, older_pages: int = 0
    ) -> CaptureReport:
        """Archive a page's embeds, or the media/platform URL itself, now; with
        ``older_pages``, those of up to that many older pages of a page split into pages.

        Unless another live worker (the daemon) is capturing the same URL right now:
        then the report says so and nothing is done twice. The URL is taken without
        its fragment and tracking parameters (`clean_url`): the server sends the same
        page, and the archive knows it under one address.
        """
        url = clean_url(url)
        with self.archive.session() as session:
            job_id = jobs.url_job(session, url).id
            job = jobs.locked(session, job_id)
            if not jobs.claim(job, self.owner, utcnow(), self.lease):
                error = "being captured by another worker right now; try again when it is done"
                return CaptureReport(url, error=error)
        return self._url_job(job_id, url, on_item, inline=True, older_pages=older_pages)

    def run_claimed(self, job_id: int) -> None:
        """Run a job the queue claimed for us (the daemon's entry point).

        A page job (a feed entry's link) records the page, and the older pages of a
        page split into pages, as a live page source's are read: back to
        ``[polling] older_pages`` the first time, later up to what was archived
        before. Its embeds become jobs of their own.
        """
        with self.archive.session() as session:
            job = session.get_one(CaptureJob, job_id)
            url, embed_id = job.url, job.embed_id
            # the last attempt could not read an older page: read them back this time
            read_back = (job.last_error or "").startswith(OLDER_PAGE_FAILED)
        if embed_id is None:
            older = self.archive.config.polling.older_pages
            self._url_job(job_id, url, None, inline=False, older_pages=older, read_back=read_back)
        else:
            self._run(job_id, embed_id, self._capture_embed, claimed=True)

    def _url_job(
        self,
        job_id: int,
        url: str,
        on_item: OnItem | None,
        *,
        inline: bool,
        older_pages: int = 0,
        read_back: bool = True,
    ) -> CaptureReport:
        report = CaptureReport(url)
        outcome: Outcome | None
        self.leases.hold(job_id)
        try:
            self._capture_url(
                url, report, on_item, inline=inline, older_pages=older_pages, read_back=read_back
            )
            outcome = Outcome(JobState.DONE)
        except Interrupted as exc:
            report.error, outcome = str(exc), None
        except (ArchiverError, OSError) as exc:
            outcome = self._failure(exc, job_id, page=not inline)
            report.error = outcome.error
        except BaseException as exc:
            self._close_unexpected(job_id, exc)
            raise
        self._close(job_id, outcome)
        if report.error:
            log_event("capture.failed", logging.WARNING, url=url, reason=report.error)
        return report

    def _close_unexpected(self, job_id: int, exc: BaseException) -> None:
        """A bug or an interruption escaped the work: the job does not stay leased (and
        renewed) forever. A bug fails the attempt for a retry; Ctrl-C or an exit puts
        the job back uncounted. The exception goes on to the caller, which logs it."""
        if isinstance(exc, Exception):
            self._close(job_id, self._failure(RuntimeError("internal error"), job_id))
        else:
            self._close(job_id, None)

    def _close(self, job_id: int, outcome: Outcome | None) -> None:
        """Finish a job, or (outcome None: interrupted) put it back as pending.

        If our lease was lost meanwhile (the job was taken over), the other worker's
        record stands; what this attempt stored stays stored all the same. If the
        database cannot take the record (disk full), the lease runs out instead and
        the job is taken up again then.
        """
        self.leases.drop(job_id)
        try:
            with self.archive.session() as session:
                job = jobs.locked(session, job_id)  # the holder check and the write as one
                now = utcnow()
                if outcome is None:
                    closed = jobs.release(job, now, self.owner)
                else:
                    closed = jobs.finish(job, outcome, now, self.owner)
                holder = job.lease_owner
        except ArchiveUnavailable as exc:
            log_event("job.not_recorded", logging.WARNING, job=job_id, reason=str(exc))
            return
        if not closed:
            log_event("job.lease_lost", logging.WARNING, job=job_id, held_by=holder)

    def _capture_url(
        self,
        url: str,
        report: CaptureReport,
        on_item: OnItem | None,
        *,
        inline: bool,
        older_pages: int = 0,
        read_back: bool = True,
    ) -> None:
        target = normalize_url(url)
        if target.kind == "platform":
            found = _direct(url, target.url, "platform", target.platform, target.media_type)
            report.items.append(self._run_new_embed(None, found, on_item))
            return
        with self.http.fetch(url, self.tmp) as got:
            if isinstance(got, Download):
                found = _direct(url, url, "file", None, None)
                item = self._run_direct(None, found, lambda e: self._store_fetched(got, e))
                report.items.append(_notify(item, on_item))
                return
            document = got
        if looks_like_feed(document.response.content_type, document.body):
            raise FetchError("this is a feed, not a page: add it as a source", retryable=False)
        response = document.response
        extraction = read_page(document.body, response)
        recorded = self.record_page(
            response.url, document.body, response=response, extraction=extraction, run_here=inline
        )
        report.page_sha256, report.page_changed = recorded.sha256, recorded.changed
        report.title = recorded.title
        embed_jobs = recorded.jobs
        held = [job_id for job_id, _ in recorded.jobs] if inline else []
        for job_id in held:  # the hold renewed as a lease is, while this command runs
            self.leases.hold(job_id)
        try:
            if older_pages:
                reader = OlderPageReader(self, self.http, None, response, extraction)
                older = reader.read(older_pages, read_back=read_back)
                report.older_pages = reader.pages
                embed_jobs = embed_jobs + reader.jobs
                if not inline and older is not None and older.failure is not None:
                    # the page and what was read are recorded; the job is retried, reading
                    # back (`run_claimed`): what lies beyond was given up for good
                    raise FetchError(f"{OLDER_PAGE_FAILED} ({older.failure})"[:500])
            if not inline:
                return
            workers = self.archive.config.download.concurrency
            with ThreadPoolExecutor(workers, thread_name_prefix="capture") as pool:
                try:
                    results = pool.map(
                        lambda ids: _notify(self.run_embed_job(*ids), on_item), embed_jobs
                    )
                    report.items.extend(results)
                except KeyboardInterrupt:  # Ctrl-C: transfers stop, their jobs stay queued
                    self.archive.stop.set()
                    pool.shutdown(cancel_futures=True)
                    raise
        finally:  # what this command held back and did not run is the queue's now
            self._let_go(held)
        report.items.extend(_notify(_unusable_item(u), on_item) for u in extraction.unusable)

    def _let_go(self, job_ids: list[int]) -> None:
        """Give the queue the jobs this command held back (`record_page`) and did not
        run (`jobs.let_go`). Until then their hold is renewed as a lease is: held for
        one lease only, the jobs still waiting behind downloads that outlasted it were
        taken by a daemon beside the command."""
        for job_id in job_ids:
            self.leases.drop(job_id)
        if job_ids:
            with self.archive.session() as session:
                jobs.let_go(job_ids, session, self.owner, utcnow())

    def record_page(
        self,
        url: str,
        body: bytes,
        *,
        response: Response,
        source_id: int | None = None,
        mark_removed: bool = False,
        extraction: PageExtraction | None = None,
        older: OlderPages | None = None,
        first_page: str | None = None,
        run_here: bool = False,
        fetched_at: datetime | None = None,
        judge_anyway: bool = False,
    ) -> RecordedPage:
        """Store a page version, find its embeds and make sure each has a capture job.

        With ``mark_removed``, embeds seen before but missing from this version are
        recorded as removed from the page (a live page that lost an update); for a
        live page that goes on in ``older`` pages, see ``record_embeds``.
        ``extraction`` is what ``read_page`` found in ``body``, when already read;
        ``first_page`` the address of the first page, when this is an older page.
        With ``run_here`` (``archiver capture``, which runs them at once) the jobs are
        held back for this process (`jobs.hold_back`): a daemon beside it took them,
        and the capture reported its own page's files as "queued" and exited 1.
        ``fetched_at``: when ``response`` came, if the page is recorded well after it
        (a live page, after its older pages are read); else it is now. With
        ``judge_anyway`` (the poll after one that deferred judging an earlier version
        served again) an earlier version is judged too: the page went back to it.
        """
        if extraction is None:
            extraction = read_page(body, response)
        now = fetched_at or utcnow()
        placed = self.place_version(url, body, response, extraction.title, now, holds_embeds=True)
        with logged_session(self.archive) as session:
            page, sha256, changed = self.store_version(session, placed)
            # an earlier version served again: when it first came (see `_superseded`)
            earlier = None
            if mark_removed and not changed and not judge_anyway:
                earlier = _superseded(session, page, sha256)
            served_again = earlier is not None
            if source_id is not None:
                page.source_id = live_source(session, source_id)
            if first_page is not None:
                page.first_page_url = first_page
            steady = title_held(page, extraction.title)
            retitled = retitle_page(session, page, extraction.title) if steady else []
            recorded = RecordedPage(page.id, sha256, changed, extraction.title)
            found = [e for e in extraction.embeds if not self.archive.serves(e.url)]
            if len(found) > MAX_EMBEDS_PER_PAGE:
                log_event(
                    "page.embeds_capped",
                    logging.WARNING,
                    url=url,
                    found=len(found),
                    kept=MAX_EMBEDS_PER_PAGE,
                )
                # what lies past the cap is not seen: nothing is judged removed
                found, mark_removed = found[:MAX_EMBEDS_PER_PAGE], False
            if mark_removed and (
                doubt := _suspect_version(
                    session, page, found, extraction, older, response, served_again
                )
            ):
                # judged next time, from a version that shows the page (`judged_at` stays)
                log_event("page.removals_deferred", logging.WARNING, url=url, reason=doubt)
                mark_removed, recorded.judgement_owed = False, served_again
            # an earlier version served again shows the page as it was when it first
            # came: what was removed since is not back on the page
            seen_at = earlier or now
            record_embeds(session, page, found, seen_at, recorded, mark_removed, older, body)
            if run_here:
                held = [job_id for job_id, _ in recorded.jobs]
                jobs.hold_back(held, session, self.owner, now, self.lease)
            record_embed_changes(
                session, recorded.removed, recorded.returned, version=sha256, at=now
            )
        self.rewrite_page_sidecar(sha256)
        for media_id in retitled:
            self.rewrite_sidecar(media_id)
        if changed and extraction.unusable:  # once per version: never fetchable, never retried
            first = extraction.unusable[0]
            log_event(
                "page.embed_unusable",
                logging.WARNING,
                url=url,
                count=len(extraction.unusable),
                embed=first.url,
                reason=first.reason,
            )
        if recorded.new_embeds or recorded.removed_embeds or recorded.returned_embeds:
            log_event(
                "page.changed",
                url=url,
                new_embeds=recorded.new_embeds,
                removed_embeds=recorded.removed_embeds,
                returned_embeds=recorded.returned_embeds or None,
            )
        return recorded

    def place_version(
        self,
        url: str,
        body: bytes,
        response: Response,
        title: str | None,
        now: datetime,
        *,
        holds_embeds: bool = False,
    ) -> PlacedVersion:
        """Place the raw bytes of this version of a page (or feed) under ``pages/``,
        the intent to index them committed first (`Placement`): a crash before
        `store_version` commits loses no version, even one the page no longer shows,
        nor, for a page (``holds_embeds``), the embeds it held."""
        intent = PageIntent(
            url=url,
            sha256=hashlib.sha256(body).hexdigest(),
            size_bytes=len(body),
            final_url=response.final_url,
            http_status=response.status,
            headers=response.headers,
            title=title,
            fetched_at=now,
            holds_embeds=holds_embeds,
        )
        with self.archive.session() as session:
            placement_id = intend(session, None, intent, self.owner)
        path = place_page(self.archive.layout, body, intent.sha256, self.tmp)
        return PlacedVersion(intent, path, placement_id)

    def store_version(self, session: Session, placed: PlacedVersion) -> tuple[Page, str, bool]:
        """Index a placed page version: its rows and the event-log entry of a new
        version. Once ``session`` is committed, the caller writes its sidecar with
        `rewrite_page_sidecar`.

        Returns the page, the version's SHA-256 and whether the version is new.
        """
        intent = placed.intent
        page = upsert_page(session, intent.url, intent.title, intent.fetched_at)
        _, changed = upsert_snapshot(
            session,
            page,
            sha256=intent.sha256,
            size_bytes=intent.size_bytes,
            path=self.archive.layout.relative(placed.path),
            final_url=intent.final_url,
            http_status=intent.http_status,
            headers=intent.headers,
            at=intent.fetched_at,
        )
        owe_page_sidecar(session, intent.sha256)
        done(session, placed.placement_id)
        if changed:
            record_page_event(session, page, intent.sha256, at=intent.fetched_at)
        return page, intent.sha256, changed

    def rewrite_page_sidecar(self, sha256: str) -> None:
        """Rebuild a page version's sidecar from the index, after `store_version`'s
        transaction was committed: every page that served these bytes, so a second
        address never overwrites the first's provenance. Writers take turns as for
        `rewrite_sidecar`."""
        directory = self.archive.layout.page_dir(sha256)
        rows = select(PageSnapshot.id).where(PageSnapshot.sha256 == sha256)
        with self._sidecar_turn(directory, rows) as session:
            owed = page_debts(session, sha256)
            write_sidecar(directory, page_document(session, sha256), self.tmp)
        self._pay(owed)

    def _pay(self, debts: list[int]) -> None:
        """Remove the debts a sidecar just written paid (see `SidecarDebt`)."""
        if debts:
            with self.archive.session() as session:
                pay(session, debts)

    def settle_sidecars(
        self, through: int | None = None, on_failure: Callable[[str, str], None] | None = None
    ) -> int:
        """Rewrite the sidecars a crash left owed (see `SidecarDebt`; ``through``: by the
        debts up to that id only); how many were. One that cannot be written stays
        owed and is logged, or told to ``on_failure`` (its file's or page's key, the
        reason); one whose row is gone is paid by its removal. A shutdown stops it."""
        with self.archive.read_session() as session:
            media_ids, pages = outstanding(session, through)
        rewrites = [partial(self.rewrite_page_sidecar, sha256) for sha256 in pages]
        rewrites += [partial(self.rewrite_sidecar, media_id) for media_id in media_ids]
        rewritten = 0
        for rewrite in rewrites:
            if self.archive.stop.is_set():
                break  # the rest at the next look, or the next start
            try:
                rewrite()
                rewritten += 1
            except NoResultFound:
                continue  # its row removed meanwhile: its debts with it
            except (OSError, ArchiverError) as exc:
                if on_failure is None:
                    log_event("sidecar.owed", logging.WARNING, key=rewrite.args[0], reason=str(exc))
                else:
                    on_failure(str(rewrite.args[0]), str(exc))
        return rewritten

    @contextlib.contextmanager
    def _sidecar_turn(self, directory: Path, rows: Select[Any]) -> Iterator[Session]:
        """Hold the folder's lock and a session reading the index, in which ``rows``
        are locked on PostgreSQL (several hosts): writers of one sidecar take turns,
        and the last to write wrote the latest state."""
        postgres = self.archive.engine.dialect.name == "postgresql"
        with locked_dir(directory):
            opened = self.archive.session() if postgres else self.archive.read_session()
            with opened as session:
                if postgres:
                    session.execute(rows.with_for_update()).all()
                yield session

    # ---- jobs ---------------------------------------------------------------------------

    def run_embed_job(self, job_id: int, embed_id: int) -> ItemResult:
        """Run one embed's job now, unless it is already done (then report what is stored)."""
        return self._run(job_id, embed_id, self._capture_embed, report_finished=True)

    def _run_new_embed(
        self, page: Page | None, found: FoundEmbed, on_item: OnItem | None
    ) -> ItemResult:
        item = self._run_direct(page, found, self._capture_embed, report_finished=True)
        return _notify(item, on_item)

    def _run_direct(
        self,
        page: Page | None,
        found: FoundEmbed,
        work: Callable[[Embed], list[StoredFile]],
        *,
        report_finished: bool = False,
    ) -> ItemResult:
        """Run a URL given directly: its embed is recorded and its job claimed in one
        transaction, so a daemon draining the queue cannot take the job in between."""
        with self.archive.session() as session:
            embed = upsert_embed(session, page, found, utcnow())
            job = jobs.locked(session, jobs.embed_job(session, embed).id)
            busy = self._not_ours(embed, job, report_finished)
            if busy is not None:
                return busy
            ids = job.id, embed.id
        return self._run(*ids, work, claimed=True)

    def _not_ours(self, embed: Embed, job: CaptureJob, report_finished: bool) -> ItemResult | None:
        """Claim a `locked` job: None when it is now ours, else what to report instead
        (already done, or a live worker has it)."""
        if report_finished and job.state in (JobState.DONE, JobState.SKIPPED):
            return self._already(embed, job)
        if not jobs.claim(job, self.owner, utcnow(), self.lease):
            return _item(embed, "queued", reason="being captured by another worker")
        return None

    def _run(
        self,
        job_id: int,
        embed_id: int,
        work: Callable[[Embed], list[StoredFile]],
        *,
        claimed: bool = False,
        report_finished: bool = False,
    ) -> ItemResult:
        """Claim the job (unless the queue did), do ``work``, record the outcome.

        With ``report_finished``, a job already done or skipped is not run again: the
        item reports what the archive holds.
        """
        try:
            with self.archive.session() as session:
                # the job's row first: the embed as it is once no poll can respell it
                job = None if claimed else jobs.locked(session, job_id)
                embed = session.get_one(Embed, embed_id)
                if job is not None:
                    busy = self._not_ours(embed, job, report_finished)
                    if busy is not None:
                        return busy
                session.expunge(embed)
        except ArchiveUnavailable as exc:  # the claim could not be written: still queued
            with self.archive.read_session() as session:
                item = _item(session.get_one(Embed, embed_id), "failed", reason=str(exc))
            _log_item(item)
            return item
        item = _item(embed, "stored")
        outcome: Outcome | None
        self.leases.hold(job_id)
        try:
            item.files = work(embed)
            outcome = Outcome(JobState.DONE)
        except Interrupted as exc:
            item.status, item.reason, outcome = "queued", str(exc), None
        except Skip as exc:
            item.status, item.reason = "skipped", str(exc)
            outcome = Outcome(JobState.SKIPPED, str(exc))
        except (ArchiverError, OSError) as exc:
            outcome = self._failure(exc, job_id)
            item.reason = outcome.error
            item.status = "gone" if outcome.state == JobState.GONE else "failed"
        except BaseException as exc:
            self._close_unexpected(job_id, exc)
            raise
        self._close(job_id, outcome)
        if item.status == "stored" and item.files and all(not f.new for f in item.files):
            item.status = "already"
        _log_item(item)
        return item

    def _failure(self, exc: Exception, job_id: int, *, page: bool = False) -> Outcome:
        """The outcome of a failed attempt; ``page``: of a URL the queue captures (see
        `jobs.outcome_of_error`)."""
        if isinstance(exc, OSError):
            exc = storage_error(exc, f"cannot write to the archive{self._where(exc)}")
        if isinstance(exc, ArchiveUnavailable):  # not counted: the database may be down
            return jobs.outcome_of_error(exc, 0, utcnow())
        with self.archive.session() as session:
            attempts = session.get_one(CaptureJob, job_id).attempts
        outcome = jobs.outcome_of_error(exc, attempts, utcnow(), page=page)
        if isinstance(exc, YtdlpError):
            outcome = replace(outcome, ytdlp_version=self.archive.ytdlp.version)
        return outcome

    def _where(self, exc: OSError) -> str:
        """Where in the archive a write failed, `` (media/ab/cd)``, when it names a place."""
        place = Path(os.fsdecode(exc.filename)) if exc.filename else None
        root = self.archive.layout.root
        return (
            f" ({self.archive.layout.relative(place)})"
            if place and place.is_relative_to(root)
            else ""
        )

    def _already(self, embed: Embed, job: CaptureJob) -> ItemResult:
        if job.state == JobState.SKIPPED:
            return _item(embed, "skipped", reason=job.last_error)
        files = [
            StoredFile(
                s.media.sha256,
                self.archive.layout.absolute(s.media.path),
                s.media.media_type,
                False,
            )
            for s in embed.sightings
        ]
        return _item(embed, "already", files=files)

    def rewrite_sidecar(self, media_id: int) -> None:
        """Rebuild a file's sidecar from the index, after the change was committed.

        Writers of one sidecar take turns on a lock on its folder (threads and
        processes alike: a capture beside the daemon) and, on PostgreSQL (several
        hosts), on the media row; each reads the index once it holds the lock, so the
        last to write wrote the latest state. The file is written outside any SQLite
        write transaction, so an fsync never blocks other writers.
        """

        with self.archive.read_session() as session:
            stored_at = session.scalars(select(Media.path).where(Media.id == media_id)).one()
        directory = self.archive.layout.absolute(stored_at).parent
        with self._sidecar_turn(directory, select(Media.id).where(Media.id == media_id)) as session:
            owed = media_debts(session, media_id)
            media = session.get_one(Media, media_id)
            # Imported here: matching brings numpy and PyAV, which a capture needs
            # only once its first file is stored: start-up does not wait for them.
            from archiver.duplicates import sidecar_section

            extra = {"near_duplicates": sidecar_section(session, media_id)}
            write_sidecar(directory, media_document(session, media, directory, extra), self.tmp)
        self._pay(owed)

    # ---- one embed ----------------------------------------------------------------------

    def _capture_embed(self, embed: Embed) -> list[StoredFile]:
        """The embed's files, downloaded now; when its URL is gone for good (404, a
        deleted post) but was archived through another embed, that download's files,
        each with a sighting through this embed that says so (``reused_from``): a page
        embedding footage deleted since is found by its address, with the copy the
        archive holds of it, not only reported "gone"."""
        try:
            return self._download_embed(embed)
        except FetchError as exc:
            if not exc.gone or not (kept := self._share_latest(embed, since=None, ytdlp=False)):
                raise
            log_event("capture.gone_archived_before", url=embed.url, reason=str(exc))
            return kept

    def _download_embed(self, embed: Embed) -> list[StoredFile]:
        if embed.kind == "file" and (indexed := self._indexed_through(embed.id)):
            return indexed
        if embed.kind == "platform":
            reader = self._post_reader(embed)
            if (reader is None or not reader.editable) and (shared := self._reuse(embed)):
                return shared
            if reader is not None:
                return self._via_post(embed, reader)
            return self._via_ytdlp(embed.url, embed)
        if embed.kind == "file":
            return self._via_file(embed)
        return self._via_player(embed)

    def _indexed_through(self, embed_id: int) -> list[StoredFile]:
        """The file an earlier attempt of a file embed's job indexed through it, its
        fingerprint, near-duplicates and sidecar finished now; [] when there is none,
        or it is not in place.

        Its job is done only once that work is, and a crash or a shutdown while a long
        video was fingerprinted put the job back to pending: run again, it downloaded
        the file again, and said "gone" beside it once its server had lost it.
        """
        layout = self.archive.layout
        with self.archive.read_session() as session:
            stored = session.execute(
                select(Media.id, Media.sha256, Media.path, Media.media_type)
                .join(Sighting, Sighting.media_id == Media.id)
                .where(Sighting.embed_id == embed_id)
                .order_by(Media.id)
            ).all()
        if not all(layout.absolute(row.path).is_file() for row in stored):
            return []
        return [
            StoredFile(sha256, layout.absolute(path), kind, False, self._match(media_id, False))
            for media_id, sha256, path, kind in stored
        ]

    def _reuse(self, embed: Embed) -> list[StoredFile]:
        """The files of this platform URL's latest yt-dlp download through another
        embed, when it is recent (``[download] reuse_within``), all of them still in
        place: each gets a sighting through this embed that shares that download.

        The same clip embedded by many live blogs is fetched once a week, not once per
        page: a video does not change under its id, and every download counts against
        the platform's patience. Posts whose media can be edited (X, Telegram, ...:
        `PostReader.editable`) and files (which can be replaced under their URL) are
        fetched each time.
        """
        window = self.archive.config.download.reuse_within
        if not window:
            return []
        return self._share_latest(embed, since=utcnow() - timedelta(seconds=window), ytdlp=True)

    def _share_latest(
        self, embed: Embed, *, since: datetime | None, ytdlp: bool
    ) -> list[StoredFile]:
        """The files of the embed's URL's latest download through another embed (seen
        ``since``, when given; by yt-dlp only, with ``ytdlp``), all of them still in
        place, each given a sighting through this embed that shares that download."""
        now = utcnow()
        layout = self.archive.layout
        with self.archive.read_session() as session:  # most URLs are new: no lock
            query = (
                select(Sighting.embed_id)
                .join(Embed, Embed.id == Sighting.embed_id)
                .join(CaptureJob, CaptureJob.embed_id == Sighting.embed_id)
                .where(Embed.url == embed.url, Embed.id != embed.id)
                .where(CaptureJob.state == JobState.DONE)  # not a download cut short
                .where(Sighting.reused_from_id.is_(None))
            )
            if since is not None:
                query = query.where(Sighting.last_seen_at >= since)
            latest = session.scalar(query.order_by(Sighting.last_seen_at.desc()).limit(1))
        if latest is None:
            return []
        with logged_session(self.archive) as session:
            earlier = session.scalars(
                select(Sighting)
                .where(Sighting.embed_id == latest, Sighting.reused_from_id.is_(None))
                .options(selectinload(Sighting.media))
            ).all()
            shareable = all(
                (s.tool == YTDLP_TOOL or not ytdlp) and layout.absolute(s.media.path).is_file()
                for s in earlier
            )
            if not earlier or not shareable:
                return []
            target = session.get_one(Embed, embed.id)
            for first in earlier:
                self._sight(session, first.media, target, Acquisition.of(first), now, first)
            shared = [
                StoredFile(s.media.sha256, layout.absolute(s.media.path), s.media.media_type, False)
                for s in earlier
            ]
            media_ids = [s.media_id for s in earlier]
            owe_media_sidecars(session, media_ids)
        regrouped = set(media_ids)
        for media_id in media_ids:  # a sighting through an embed seen before the others'
            regrouped.update(self.archive.duplicates.reconsider(media_id))
        for media_id in sorted(regrouped):
            self.rewrite_sidecar(media_id)
        return shared

    def _via_file(self, embed: Embed) -> list[StoredFile]:
        """A media file at its canonical address, or else at the page's own spelling.

        The canonical URL drops tracking parameters and asks for a photo's uploaded
        size (`file_url`); when the server refuses that address (a 4xx other than a
        time-out or rate limit), the URL as the page wrote it, which its readers saw
        working, is tried before the file is given up. When the canonical address is
        on another host (the upload an image CDN copied), any failure there tries the
        copy the page showed: that copy may not wait for the upload's host to return.
        The canonical address's error is the one kept. When the canonical address
        lacks only the page's cache-buster or signature (`respelled_only`), the page's
        spelling (its newest, `jobs.respell_unarchived`) is asked first, and its error kept.
        """
        first, then = embed.url, embed.original_url
        if respelled_only(embed.original_url, embed.url):
            first, then = then, first  # the page's cache-buster or signature: asked first
        try:
            return self._download_file(first, embed)
        except FetchError as exc:
            elsewhere = host_of(first) != host_of(then)
            if first == then or not (elsewhere or is_refusal(exc.http_status)):
                raise
            try:
                return self._download_file(then, embed)
            except FetchError:
                raise exc from None

    def _download_file(self, url: str, embed: Embed) -> list[StoredFile]:
        """A file by HTTP; an HLS or DASH playlist (a ``<video>``'s stream) goes to
        yt-dlp instead, which joins the segments it lists into the video."""
        with self.http.download(url, self.tmp) as download:
            return self._store_fetched(download, embed)

    def _store_fetched(
        self, download: Download, embed: Embed, facts: PlatformFacts | None = None
    ) -> list[StoredFile]:
        """A downloaded file; for an HLS or DASH playlist, the video yt-dlp joins from
        the segments it lists. ``facts``: what a player page declares of it, kept
        either way (`_declared_stream`)."""
        response = download.response
        if is_stream_manifest(download.head, response.headers.get("content-type")):
            return self._via_ytdlp(response.final_url, embed, facts)
        return self._store_download(download, embed, facts)

    def _via_player(self, embed: Embed) -> list[StoredFile]:
        """An iframe on an unknown host: read the player page, then fall back to yt-dlp."""
        with self.http.fetch(embed.url, self.tmp) as got:
            if isinstance(got, Download) and _identity(got) is not None:
                return self._store_download(got, embed)
            # not media: a page to read, or a player's JSON or script for yt-dlp to read
            page = got if isinstance(got, Document) else None
        try:
            found = extract_player_media(page.body, page.response.final_url) if page else []
        except ExtractError:
            found = []
        stored: list[StoredFile] = []
        for media in found:
            if media.kind == "platform":
                stored += self._via_ytdlp(media.url, embed)
                continue
            with self.http.download(media.url, self.tmp) as download:
                stored += self._store_fetched(download, embed, player_facts(media))
        if stored:
            return stored
        try:
            return self._via_ytdlp(embed.url, embed)
        except PartialDownload:
            raise  # media was found, and some archived
        except YtdlpError as exc:  # retried as yt-dlp's failures are, if they are
            raise YtdlpError(
                f"no media found in player page ({exc})", retryable=exc.retryable, gone=exc.gone
            ) from None

    def _post_reader(self, embed: Embed) -> PostReader | None:
        """How to read a post's photos (X, Telegram, Reddit, Instagram, TikTok, Bluesky,
        Imgur) or files (Mastodon, Imgur), which yt-dlp leaves out."""
        settings = self.archive.config.posts
        return post_reader(embed.platform, embed.url, settings) if settings.photos else None

    def _read_post(self, reader: PostReader) -> tuple[PlatformPost, Document]:
        """The post, and the platform's answer it was read from."""
        for url in reader.addresses:
            try:
                answer = self.http.get_document(url)
                break
            except FetchError as exc:
                if exc.http_status != 404 or url == reader.addresses[-1]:
                    explained = reader.refusal(exc) if reader.refusal is not None else None
                    raise explained or exc from None
        post = reader.parse(answer.body)
        if reader.originals is not None:
            post = reader.originals(post, lambda url: self.http.get_document(url).body)
        return post, answer

    def _via_post(self, embed: Embed, reader: PostReader) -> list[StoredFile]:
        """A post's photos, each with the post beside it; its videos through yt-dlp.

        When the widget cannot be read (rate limits, a changed format), yt-dlp alone
        does what it did before, so a video post is never the worse for it; if it finds
        nothing either, the widget's error is the job's, and it is retried.
        """
        try:
            post, answer = self._read_post(reader)
        except FetchError as exc:
            if exc.gone:
                raise
            try:
                return self._via_ytdlp(embed.url, embed)
            except FetchError:
                raise exc from None
        # the files first: when the video then fails (and is retried), they are safe;
        # one that failed does not cost the video either, and is said once it is tried
        listed = [(url, each) for each in post.shown() for url in each.photos + each.files]
        try:
            direct, missing = self._store_served(embed, post, listed), None
        except FetchError as exc:
            direct, missing = [], exc
        try:
            videos = self._via_ytdlp(embed.url, embed) if post.has_video else []
        except FetchError as exc:
            # yt-dlp's extractor for the platform broke, or the platform turned it away:
            # the videos as the platform serves them are the next best thing
            served = [(url, each) for each in post.shown() for url in each.video_files]
            if exc.gone or not served:
                raise
            try:
                videos = self._store_served(embed, post, served)
            except FetchError:
                raise exc from None  # that copy failed too: yt-dlp's reason stands
        if missing is not None:
            raise missing
        waiting = next((each.incomplete for each in post.shown() if each.incomplete), None)
        if waiting:  # what is there is archived; the rest on a later attempt
            raise FetchError(waiting, retryable=True)
        if not direct and not videos:
            self._keep_post(embed, post, answer)
            raise Skip(
                f"the {post.platform} post has no photo or video: its text is kept as a "
                f"version of {embed.url}"
            )
        return videos + direct

    def _store_served(
        self, embed: Embed, post: PlatformPost, served: list[tuple[str, PlatformPost]]
    ) -> list[StoredFile]:
        """Download files a platform serves as they are, each with its own post's facts
        and a copy of the platform's answer beside it (placing it moves it).

        Every file is tried, and what comes is archived: a gallery's one removed photo
        does not cost the others. Then one error says what failed (see `_not_served`).
        """
        stored: list[StoredFile] = []
        failures: list[FetchError] = []
        for url, shown in served:
            with temp_file(self.tmp, ".post") as (record, sink):
                sink.write(post.record)
                sink.flush()
                try:
                    with self._served_copy(url, shown.copies.get(url)) as download:
                        extras = [(record, post.record_name)]
                        stored += self._store_download(download, embed, post_facts(shown), extras)
                except FetchError as exc:
                    log_event("capture.post_file_failed", logging.WARNING, url=url, reason=str(exc))
                    failures.append(exc)
        if failures:
            raise _not_served(failures, len(stored))
        return stored

    @contextlib.contextmanager
    def _served_copy(self, url: str, copy: str | None) -> Iterator[Download]:
        """The download of ``url``, or when it fails, of another ``copy`` of it; the
        failure of ``url`` stands when the copy fails too."""
        with contextlib.ExitStack() as stack:
            try:
                download = stack.enter_context(self.http.download(url, self.tmp))
            except FetchError as exc:
                if copy is None:
                    raise
                log_event("capture.copy", url=url, copy=copy, reason=str(exc))
                try:
                    download = stack.enter_context(self.http.download(copy, self.tmp))
                except FetchError:
                    raise exc from None
            yield download

    def _keep_post(self, embed: Embed, post: PlatformPost, answer: Document) -> None:
        """A post of words alone is evidence in its words: the widget's answer is kept
        as a version of the post's own page, titled with who said what, so the editors'
        report has it to show when the post is deleted."""
        title = post_title(post)
        placed = self.place_version(embed.url, answer.body, answer.response, title, utcnow())
        with logged_session(self.archive) as session:
            page, sha256, _ = self.store_version(session, placed)
            retitled = retitle_page(session, page, title)
        self.rewrite_page_sidecar(sha256)
        for media_id in retitled:
            self.rewrite_sidecar(media_id)

    def _store_download(
        self,
        download: Download,
        embed: Embed,
        facts: PlatformFacts | None = None,
        extras: list[tuple[Path, str]] | None = None,
    ) -> list[StoredFile]:
        response = download.response
        identity = _identity(download)
        if identity is None:
            served = response.content_type or "unknown type"
            if is_markup(download.head) and "html" not in served and "xml" not in served:
                served = f"a web page served as {served}"  # an error or login page
            raise FetchError(f"not media: {served} at {response.final_url}", retryable=False)
        if embed.found_in != "direct" and identity.media_type == "image":
            _refuse_icons(download.path)
        acquisition = Acquisition(
            media_url=response.final_url,
            tool="httpx",
            tool_version=HTTPX_VERSION,
            archiver_version=__version__,
            http_status=response.status,
            response_headers=response.headers,
        )
        return [
            self._store(
                download.path, download.digests, identity, acquisition, embed, facts, extras
            )
        ]

    def _via_ytdlp(
        self, url: str, embed: Embed, declared: PlatformFacts | None = None
    ) -> list[StoredFile]:
        """The files yt-dlp downloads from ``url``, taking the host's slot as a direct
        download does (``[download] per_host_concurrency``): a page of YouTube embeds
        was ``concurrency`` downloads from YouTube at once. ``declared``: what a player
        page says of the stream (`_declared_stream`)."""
        work_dir = self.tmp / f"ytdlp-{embed.id}-{os.urandom(4).hex()}"
        try:
            with self.http.limiter.slot(url):
                result = self.archive.ytdlp.download(url, work_dir)
            stored = [
                self._store_platform_file(f, url, result.version, embed, declared)
                for f in result.files
            ]
            if result.incomplete is not None:  # what came is archived; the rest is retried
                raise result.incomplete
            return stored
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)

    def _store_platform_file(
        self,
        file: PlatformFile,
        url: str,
        version: str,
        embed: Embed,
        declared: PlatformFacts | None = None,
    ) -> StoredFile:
        digests = hash_file(file.path)
        identity = identify(head_of(file.path), None, file.path.name)
        if identity is None:
            raise FetchError(f"yt-dlp delivered something that is not media: {file.path.name}")
        acquisition = Acquisition(
            media_url=str(file.info.get("url") or file.info.get("webpage_url") or url),
            tool=YTDLP_TOOL,
            tool_version=version,
            archiver_version=__version__,
            http_status=None,
            response_headers=None,
        )
        extras: list[tuple[Path, str]] = []
        if file.info_path:
            extras.append((file.info_path, "platform.info.json"))
        if file.thumbnail:
            extras.append((file.thumbnail, f"thumbnail{file.thumbnail.suffix.lower()}"))
        stem = file.path.name.split(".", 1)[0]
        extras += [(sub, "subtitles." + sub.name[len(stem) + 1 :]) for sub in file.subtitles]
        facts = _declared_stream(declared, ytdlp_facts(file.info))
        return self._store(file.path, digests, identity, acquisition, embed, facts, extras)

    def _store(
        self,
        tmp: Path,
        digests: Digests,
        identity: MediaIdentity,
        acquisition: Acquisition,
        embed: Embed,
        facts: PlatformFacts | None,
        extras: list[tuple[Path, str]] | None = None,
    ) -> StoredFile:
        """Place the file, index it, and rewrite its sidecar: in that order.

        The intent to place it is committed first (`Placement`), with all indexing
        needs: if we die between placing and indexing, the next start indexes it from
        there (`recover`), whether or not its server still has it. A retry
        that downloads it again finds it in place; a file is never stored twice.
        Its companions are placed before it: an original a crash left in place has
        them (its platform's info, which may not be downloadable again); companions a
        crash left with no original are removed when its intent is settled.
        """
        intent = PlacementIntent(
            sha256=digests.sha256,
            md5=digests.md5,
            size_bytes=digests.size_bytes,
            mime_type=identity.mime_type,
            media_type=identity.media_type,
            acquisition=acquisition,
            facts=facts,
            companions=[name for _, name in extras or []],
            fetched_at=utcnow(),
        )
        with self.archive.session() as session:
            placement_id = intend(session, embed.id, intent, self.owner)
        layout = self.archive.layout
        try:
            place_companions(layout, digests.sha256, extras or [])
            path = place_original(
                layout, tmp, digests.sha256, identity.extension, on_damaged=self._restoring
            )
        except (OSError, ArchiverError):  # a full disk: nothing unexplained stays placed
            with contextlib.suppress(OSError, ArchiverError):
                self._remove_unplaced_companions(placement_id, intent)
            raise
        return self._index_placed(path, _as_placed(intent, path), embed.id)

    def _restoring(self, damaged: Damaged) -> None:
        """Say, before it happens, that a damaged original is replaced by bytes just
        downloaded again (`place_original`): in the log as ``original_restored``."""
        layout = self.archive.layout
        sha256 = damaged.path.parent.name
        payload = {
            "sha256": sha256,
            "path": layout.relative(damaged.path),
            "kept": layout.relative(damaged.kept),
            "kept_sha256": damaged.sha256,
            "kept_size_bytes": damaged.size_bytes,
        }
        log_event("original.restored", logging.WARNING, **payload)
        record(self.archive, "original_restored", payload, media_sha256=sha256)

    def _index_placed(self, path: Path, intent: PlacementIntent, embed_id: int) -> StoredFile:
        """Index a placed file as seen through ``embed_id``, spending its intent; then
        its sidecar, its fingerprint and near-duplicates. Its sighting is dated when it
        was downloaded, also when a crash left it to the next start. The companions an
        earlier attempt through the same embed placed (and failed to index, a full
        disk) are recorded too, whatever this attempt's download brought."""
        now = intent.fetched_at or utcnow()
        with logged_session(self.archive) as session:
            placed = sorted({*intent.companions, *spend_intents(session, embed_id, intent.sha256)})
            media, new = upsert_media(
                session,
                sha256=intent.sha256,
                md5=intent.md5,
                size_bytes=intent.size_bytes,
                mime_type=intent.mime_type,
                media_type=intent.media_type,
                path=self.archive.layout.relative(path),
                at=now,
                platform=intent.facts,
                media_url=intent.acquisition.media_url,
            )
            if placed or media.companions is None:
                media.companions = recorded_companions(path.parent, placed, media.companions)
            embed = session.get_one(Embed, embed_id)
            self._sight(session, media, embed, intent.acquisition, now, new=new)
            media_id = media.id
            owe_media_sidecars(session, [media_id])
        if not (path.parent / SIDECAR).exists():
            # A new file gets its sidecar at once: fingerprinting a long video takes
            # minutes, and meanwhile the file must not look unexplained (to a person,
            # or to `archiver verify`). It is rewritten below with the near-duplicates.
            self.rewrite_sidecar(media_id)
        near = self._match(media_id, new)
        return StoredFile(intent.sha256, path, intent.media_type, new, near)

    def _match(self, media_id: int, new: bool) -> dict[str, Any] | None:
        """Fingerprint an indexed file (unless it is already) and flag its
        near-duplicates, then rewrite the sidecars that changed; what its report says of
        its near-duplicates (None: fingerprinted before)."""
        flag = None
        regrouped: tuple[int, ...] = ()
        try:
            if not new:  # seen again: maybe earlier than its group knew, or dated now
                regrouped = self.archive.duplicates.reconsider(media_id)
            flag = self.archive.duplicates.process(media_id)
        finally:  # each changed sidecar once, this file's even if matching failed
            for affected in sorted({media_id, *regrouped, *(flag.affected if flag else ())}):
                self.rewrite_sidecar(affected)
        if flag is None:
            return None
        return {
            "group_id": flag.group_id,
            "earliest": flag.earliest,
            "matches": flag.matches,
            "fingerprint_error": flag.error,
        }

    def recover(self) -> tuple[int, int]:
        """Finish what a crash cut short: index the files and page versions it left
        placed but unindexed, then rewrite the sidecars it left owed. How many of each;
        run at start, before the queue takes their jobs up again."""
        return self.settle_placements(at_start=True), self.settle_sidecars()

    def settle_placements(self, *, at_start: bool = False) -> int:
        """Index what a crash left placed but unindexed, from its intent (`Placement`);
        an intent whose file never reached its place, whole, is dropped (the job's
        retry downloads it; `verify` names a file that changed). A live process's
        intents are its own (`left_over`); at start, this process's id is an earlier
        one's. How many were indexed.

        The daemon settles them while it runs too: a killed ``archiver capture`` beside
        it left a file out of the index until the daemon's next start. One that cannot
        be indexed now (a full disk) is logged and left for a later settle: the daemon
        that met it at its start exited, and systemd restarted it in a loop."""
        with self.archive.read_session() as session:
            leftovers = left_over(session, self.owner if at_start else None, utcnow(), self.lease)
        indexed = 0
        for placement_id, embed_id, intent in leftovers:
            try:
                indexed += self._settle_placement(placement_id, embed_id, intent)
            except Interrupted:
                break  # a shutdown: the rest at the next start
            except (OSError, ArchiverError) as exc:
                log_event("placement.owed", logging.WARNING, sha256=intent.sha256, reason=str(exc))
        return indexed

    def _settle_placement(
        self, placement_id: int, embed_id: int | None, intent: PlacementIntent | PageIntent
    ) -> int:
        """Index one file or page version left placed (see `settle_placements`): 1 when
        it was, 0 when its intent was dropped."""
        layout = self.archive.layout
        path = (
            layout.page_dir(intent.sha256) / PAGE_FILE
            if isinstance(intent, PageIntent)
            else find_original(layout, intent.sha256)
        )
        if path is None or not path.is_file() or hash_file(path).sha256 != intent.sha256:
            if isinstance(intent, PlacementIntent):
                self._remove_unplaced_companions(placement_id, intent)
            with self.archive.session() as session:
                done(session, placement_id)
            return 0
        if isinstance(intent, PageIntent):
            with logged_session(self.archive) as session:
                page, _, _ = self.store_version(session, PlacedVersion(intent, path, placement_id))
                if intent.holds_embeds:
                    _record_version_embeds(session, page, intent, path, self.archive)
            self.rewrite_page_sidecar(intent.sha256)
        elif embed_id is not None:  # always: a file's intent names its embed
            self._index_placed(path, _as_placed(intent, path), embed_id)
            with self.archive.session() as session:
                embed = session.get_one(Embed, embed_id)
                if embed.kind == "file":  # its one file: an embed of more runs again
                    jobs.done_at_recovery(jobs.embed_job(session, embed), utcnow())
        return 1

    def _remove_unplaced_companions(self, placement_id: int, intent: PlacementIntent) -> None:
        """Remove the companions a placement put in place when its original never
        followed (see `remove_unplaced_companions`), before its intent is dropped.

        They are not kept for a retry to adopt: no retry may come (the post deleted,
        the job given up), and unindexed files beside no original are what `verify`
        reports as orphans. A retry downloads them again with the original; those
        the sidecar lists, or another placement still to be settled intends (a
        capture of the same bytes running now) stay, and all do when the bytes are
        indexed already (a damaged original's restore cut short: the companions there
        may be the earlier capture's, which this one kept)."""
        if not intent.companions:
            return
        layout = self.archive.layout
        directory = layout.media_dir(intent.sha256)

        def claimed() -> set[str]:
            with self.archive.read_session() as session:
                pending = pending_companions(session, intent.sha256, besides=placement_id)
                indexed = session.scalar(select(Media.id).where(Media.sha256 == intent.sha256))
            if indexed is not None:
                # archived before (its original being restored): what lies there may be
                # its own, which this capture found in place and kept, its sidecar lost
                return set(intent.companions)
            return pending | set(listed_companions(directory))

        removed = remove_unplaced_companions(layout, intent.sha256, intent.companions, claimed)
        if removed:
            log_event("companions.removed", logging.INFO, sha256=intent.sha256, names=removed)

    @staticmethod
    def _sight(
        session: Session,
        media: Media,
        embed: Embed,
        acquisition: Acquisition,
        now: datetime,
        reused_from: Sighting | None = None,
        *,
        new: bool = False,
    ) -> None:
        """Index the file as seen through ``embed``: its sighting, its search text, and
        the event-log entry of a ``new`` file (its row made now) or of a new sighting.
        A file is new once: bytes another capture indexed first, dated later, are
        sighted (their ``first_captured_at`` moved back, `upsert_media`)."""
        sighting = upsert_sighting(session, media, embed, acquisition, now, reused_from)
        session.flush()
        if new or media.search_text is None:
            media.search_text = search_document(session, media)
        else:  # its platform's title too: a file first fetched plainly may have one now
            title = embed.page.title if embed.page else None
            media.search_text = with_sighting(
                media.search_text,
                media.platform_title,
                embed.context,
                embed.update_label,
                title,
                *placement_texts(embed.embed_metadata),
            )
        if new:
            record_capture(session, media, sighting, at=now)
        elif sighting.first_seen_at == now:
            record_sighting(session, media, sighting, at=now)


# ---- small helpers ------------------------------------------------------------------------


def record_embeds(
    session: Session,
    page: Page,
    embeds: list[FoundEmbed],
    now: datetime,
    recorded: RecordedPage,
    mark_removed: bool = False,
    older: OlderPages | None = None,
    body: bytes = b"",
) -> None:
    """Index a page's embeds and give each a capture job (counted into ``recorded``).

    With ``mark_removed``, an embed the page no longer holds is recorded as removed:
    not one whose address the page's ``body`` still writes (a newer archiver reads
    another rendition of that picture: its WebP copy was not taken off the page), nor
    one no version of the page held (`Embed.held_by_page`: a feed entry's enclosure).
    An embed is judged once, in the poll where it left the page: one last seen before
    the page's last judgement (`Page.judged_at`) was judged then (a capture between
    two polls, which judges nothing, does not move that time). On a live page that
    goes on in ``older`` pages, updates also leave the page by scrolling on to them:
    an embed is removed only if none of the older pages read held it either. When
    those pages were not all read, it is not judged, and is judged next time.
    """
    known = {e.url: e for e in page.embeds}
    previous = max((e.last_seen_at for e in known.values()), default=None)
    for found in embeds:
        recorded.new_embeds += found.url not in known
        removed_at = known[found.url].removed_at if found.url in known else None
        if found.url in known and _respelled(known[found.url], found, now):
            jobs.respell_unarchived(
                session, known[found.url].id, found.url, found.original_url, now
            )
        embed = upsert_embed(session, page, found, now)
        if removed_at is not None and embed.removed_at is None:
            recorded.returned.append((embed.id, removed_at))  # back on the page
        recorded.jobs.append((jobs.embed_job(session, embed).id, embed.id))
    if not mark_removed:
        return
    present = {found.url for found in embeds}
    # what the page still writes: an embed whose canonical address a newer archiver
    # spells otherwise (an X photo at its uploaded size) was not removed from it
    still_written = {found.original_url for found in embeds}
    for embed in known.values():
        if embed.url in present or embed.original_url in still_written:
            continue
        if embed.removed_at is not None or not embed.held_by_page:
            continue  # judged already, or only a feed entry gave it: never on the page
        if embed.last_seen_at > now:
            continue  # a later fetch of the page held it (captured while older pages were read)
        if page.judged_at is not None:
            if embed.last_seen_at < page.judged_at:
                continue  # seen last before the last judgement: judged then
        elif older is not None and embed.last_seen_at != previous:
            continue  # (a page not judged since 0032) left before: judged then
        if older is not None and (not older.complete or embed.url in older.embed_urls):
            continue  # not judged now, or moved to an older page
        if _written_in(body, embed.original_url):
            continue  # another rendition of it is read now: the page still shows it
        embed.removed_at = now
        recorded.removed.append(embed.id)
    if older is None or older.complete:  # else what was not judged is judged next time
        page.judged_at = now


def _respelled(embed: Embed, found: FoundEmbed, at: datetime) -> bool:
    """Whether a version of the page seen ``at`` spells a file embed anew only by its
    cache-buster or signature (not an older version read back)."""
    return (
        embed.kind == "file"
        and found.original_url != embed.original_url
        and at >= embed.last_seen_at
        and respelled_only(found.original_url, embed.url)
    )


def _suspect_version(
    session: Session,
    page: Page,
    found: list[FoundEmbed],
    extraction: PageExtraction,
    older: OlderPages | None,
    response: Response,
    served_again: bool = False,
) -> str | None:
    """Why a live page's version may not be the page (a consent wall, an empty 200, a
    stale cache node served in its place), whose missing embeds are then not judged
    removed; None when it may be judged. A page that still shows embeds judges what it
    lost; one that showed some and now shows none, or that went on in older pages and
    now links none, judges nothing until a version that does. Nor does an earlier
    version ``served_again`` after the page was judged from another (a cache node's
    stale copy: the updates posted since were judged removed, and returned at the
    next poll); a page that went back to it is judged at the next poll that finds it
    so."""
    if not found and any(e.removed_at is None and e.held_by_page for e in page.embeds):
        return "the page shows none of its embeds"
    if served_again:
        return "an earlier version of the page was served again (a stale cache copy?)"
    if older is not None or links_older_page(response.final_url, extraction):
        return None
    kept = select(Page.id).where(Page.first_page_url.in_({page.url, response.url})).limit(1)
    if session.scalar(kept) is not None:
        return "the page links none of its older pages"
    return None


def _superseded(session: Session, page: Page, sha256: str) -> datetime | None:
    """When this version of ``page`` first came, if a version that first came after it
    was judged since (the page's last judgement is no earlier): a stale copy of the
    page, or the page gone back to it; None when it is not so superseded. Captures
    between polls, which judge nothing, do not count."""
    came = session.scalar(
        select(PageSnapshot.first_fetched_at).where(
            PageSnapshot.page_id == page.id, PageSnapshot.sha256 == sha256
        )
    )
    if came is None or page.judged_at is None:
        return None
    later = select(PageSnapshot.id).where(
        PageSnapshot.page_id == page.id,
        PageSnapshot.first_fetched_at > came,
        PageSnapshot.first_fetched_at <= page.judged_at,
    )
    return came if session.scalar(later.limit(1)) is not None else None


def _written_in(body: bytes, url: str) -> bool:
    """Whether a page's bytes write ``url``: its path and query, as the page may give
    them (relative, or with ``&amp;``); too short a path proves nothing."""
    parts = urlsplit(url)
    written = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(parts.path) < _WRITTEN_PATH_LENGTH:
        return False
    return any(form.encode() in body for form in {written, written.replace("&", "&amp;")})


_WRITTEN_PATH_LENGTH = 12  # "/uploads/a.jpg" is long enough; "/a.jpg" may be anything


def _direct(
    original: str, url: str, kind: Any, platform: str | None, media_type: Any
) -> FoundEmbed:
    return FoundEmbed(
        kind=kind,
        url=url,
        original_url=original,
        media_type=media_type,
        platform=platform,
        found_in="direct",
        update=None,
        context=None,
    )


def _item(embed: Embed, status: ItemStatus, **kwargs: Any) -> ItemResult:
    return ItemResult(
        url=embed.url,
        original_url=embed.original_url,
        found_in=embed.found_in,
        update=embed.update_label,
        context=embed.context,
        status=status,
        **kwargs,
    )


def _unusable_item(unusable: UnusableEmbed) -> ItemResult:
    """The report's item for an embed whose address can never be fetched: failed, with
    why. It is not recorded: there is nothing to retry, and an address over
    MAX_URL_BYTES cannot be indexed."""
    return ItemResult(
        url=unusable.url,
        original_url=unusable.url,
        found_in=unusable.found_in,
        update=unusable.update,
        context=unusable.context,
        status="failed",
        reason=unusable.reason,
    )


def _notify(item: ItemResult, on_item: OnItem | None) -> ItemResult:
    if on_item is not None:
        on_item(item)
    return item


def _log_item(item: ItemResult) -> None:
    if item.status == "queued":  # interrupted, or another worker had it: not a failure
        log_event("capture.queued", url=item.url, reason=item.reason)
        return
    if item.failed:
        log_event(
            "capture.failed", logging.WARNING, url=item.url, status=item.status, reason=item.reason
        )
        return
    if not item.files:
        log_event("capture.done", url=item.url, status=item.status, reason=item.reason)
    for f in item.files:
        log_event(
            "capture.done",
            url=item.url,
            status=item.status,
            sha256=f.sha256,
            media_type=f.media_type,
        )


def _record_version_embeds(
    session: Session, page: Page, intent: PageIntent, path: Path, archive: Archive
) -> None:
    """The embeds of a page version a crash left unindexed, as jobs: the version may
    hold updates the page has dropped since (their removal is judged by the next poll,
    and one a later version already judged stands; one an earlier poll judged, which
    the version holds again, is back)."""
    response = Response(intent.url, intent.final_url, intent.http_status, intent.headers)
    try:
        extraction = read_page(path.read_bytes(), response)
    except (OSError, FetchError) as exc:
        log_event("page.unread", logging.WARNING, url=intent.url, reason=str(exc))
        return
    recorded = RecordedPage(page.id, intent.sha256, True, intent.title)
    found = [e for e in extraction.embeds if not archive.serves(e.url)]
    record_embeds(session, page, found, intent.fetched_at, recorded)
    record_embed_changes(
        session, [], recorded.returned, version=intent.sha256, at=intent.fetched_at
    )


def _declared_stream(
    declared: PlatformFacts | None, joined: PlatformFacts | None
) -> PlatformFacts | None:
    """The facts of an HLS or DASH stream a player page declared and yt-dlp joined:
    the page's title, uploader and upload time (yt-dlp's generic extractor names the
    file after its playlist, ``index``, with no uploader or date), with yt-dlp's
    format details beside the page's words in ``metadata``."""
    if declared is None:
        return joined
    said = joined.metadata if joined is not None else {}
    details = {key: said[key] for key in FORMAT_FIELDS if key in said}
    return replace(declared, metadata={**details, **declared.metadata})


def _as_placed(intent: PlacementIntent, path: Path) -> PlacementIntent:
    """The intent for the file in place: for bytes another capture placed first under
    another name (its server named a type that bytes like these cannot show), what the
    placed file's name says, so the index agrees with the file it points at."""
    if path.name == f"{ORIGINAL}.{extension_for(intent.mime_type)}":
        return intent
    placed = identify(head_of(path), None, path.name)
    if placed is None:
        return intent
    return replace(intent, mime_type=placed.mime_type, media_type=placed.media_type)


def _identity(download: Download) -> MediaIdentity | None:
    """What the downloaded file is, proven from its first bytes; None when not media."""
    response = download.response
    return identify(download.head, response.headers.get("content-type"), response.final_url)


def _not_served(failures: list[FetchError], archived: int) -> FetchError:
    """One error for the files of a post that could not be fetched, in one line: the
    first reason, and how many came and did not. Retried, and never gone: one file's
    404 says nothing of the post, which its platform just showed."""
    first = " ".join(str(failures[0]).split()) or type(failures[0]).__name__
    kept = f"{archived} file{'s' if archived != 1 else ''} archived"
    waits = [exc.retry_after for exc in failures if exc.retry_after]
    return FetchError(
        f"{first} ({kept}, {len(failures)} not)",
        retryable=True,
        retry_after=max(waits) if waits else None,
    )


def _refuse_icons(path: Path) -> None:
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return  # not decodable here: keep the bytes, they are what was served
    if (width <= ICON_SIZE and height <= ICON_SIZE) or min(width, height) <= 1:
        raise Skip(f"icon-sized image ({width}x{height})")
