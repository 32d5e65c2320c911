"""Ask yt-dlp whether a platform post still plays, without downloading it.

yt-dlp runs in metadata-only mode (``--simulate --dump-single-json``) in its own
process group with a short time-out; the whole group is killed when it runs over.
Its error line is then classified. yt-dlp's wording comes from the platforms
themselves (YouTube's "Video unavailable. This video has been removed by the
uploader", X's tombstones, ...), so the patterns are tried in a careful order:

1. an HTTP error code: 404/410 of the post's own page is gone, 401/451 restricted,
   anything else (403 is nearly always an anti-bot block) an error;
2. anti-bot, rate-limit and network answers: error. They say "Sign in to confirm
   you're not a bot" or "Video unavailable ... try again later", which the next
   rules would misread;
3. restrictions (private, login, age, members, geo, protected): restricted;
4. removals (removed, deleted, terminated, suspended, "Video unavailable"): gone;
5. a post without video, or a premiere still to come: live.

Anything else is an error: an unknown message is no proof of removal.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from urllib.parse import urlsplit

from archiver.errors import FetchError, Interrupted
from archiver.fetch.netguard import check_host
from archiver.fetch.ytdlp import Ytdlp, error_line, run_bounded
from archiver.jsontext import json_or_none
from archiver.liveness.result import CheckResult, Status

PROBE = "yt-dlp"

_ERROR_FIRST = re.compile(
    r"confirm you.re not a bot|try again later|rate.?limit|too many requests|captcha"
    r"|ip address is blocked|your ip|tls fingerprint|data center ip"
    r"|empty media response|could not retrieve guest token|error\(s\) while querying api"
    r"|unsupported url|timed out|connection (?:refused|reset)|name or service not known"
    r"|temporary failure in name resolution|nodename nor servname|network is unreachable"
    r"|no route to host|\bssl\b|certificate|remote end closed|incompleteread",
    re.IGNORECASE,
)
_HTTP_ERROR = re.compile(r"(Unable to download webpage: )?HTTP Error (\d{3})", re.IGNORECASE)
_RESTRICTED = re.compile(
    r"private|sign in|\blog ?in\b|logged.in|registered users|members|join this channel"
    r"|premium|requires payment|purchase|confirm your age|age.restricted|inappropriate"
    r"|nsfw|adult content|protected|limits who can view|not authorized|do not have permission"
    r"|permission to view|password|embed-only|restricted video|geo.?restrict"
    r"|in your country|from your location|blocked it in your country|facebook said",
    re.IGNORECASE,
)
_GONE = re.compile(
    r"has been removed|was removed|\bdeleted\b|been terminated"
    r"|removed for violating|violated|no longer available|no longer exists|copyright claim"
    r"|\bsuspended\b|does not exist|doesn.t exist"
    r"|(?:video|post|tweet|media|content|space|user|account) not found|video unavailable"
    r"|this video is unavailable|tweet is unavailable|post is unavailable",
    re.IGNORECASE,
)
# The post is there; it just carries no video (a photo or text post) or starts later.
_LIVE = re.compile(
    r"no video (?:could be found|in this post)|there.s no video|there is no video"
    r"|is not a video or animated image"
    r"|will begin in|premieres in|has not yet started|is scheduled for",
    re.IGNORECASE,
)
# DRM-locked media plays for viewers; yt-dlp just cannot fetch it.
_DRM = re.compile(r"drm protected", re.IGNORECASE)
# yt-dlp's own advice appended to the platform's words.
_ADVICE = re.compile(r"--cookies|--username|--netrc|yt-dlp -U|github\.com/yt-dlp")
# Metadata that says the media is there but not for everyone.
_RESTRICTED_AVAILABILITY = frozenset({"private", "premium_only", "subscriber_only", "needs_auth"})


@dataclass(frozen=True)
class ProbeRun:
    """What the yt-dlp process printed and how it ended."""

    returncode: int
    stdout: str
    stderr: str


class ProbeTimeout(Exception):
    """yt-dlp did not answer within the probe's time-out."""


class ProbeInterrupted(Exception):
    """The daemon is shutting down; the probe was killed."""


def probe_command(ytdlp: Ytdlp, url: str, timeout: float) -> list[str]:
    """yt-dlp's command line for a metadata-only look at ``url``."""
    socket_timeout = max(1, int(min(ytdlp.network.read_timeout, timeout)))
    return [
        *ytdlp.command,
        "--ignore-config",
        "--no-cache-dir",
        "--no-warnings",
        "--simulate",
        "--skip-download",
        "--dump-single-json",
        "--flat-playlist",
        "--playlist-items",
        "1",
        "--socket-timeout",
        str(socket_timeout),
        "--user-agent",
        ytdlp.network.user_agent,
        *ytdlp.guard_arguments,
        "--",
        url,
    ]


def run_probe(ytdlp: Ytdlp, url: str, timeout: float) -> ProbeRun:
    """Run the probe command, bounded like every yt-dlp run (its process group is
    killed on time-out or shutdown).

    Raises ProbeTimeout, ProbeInterrupted, or OSError when yt-dlp cannot start.
    """
    try:
        done = run_bounded(probe_command(ytdlp, url, timeout), timeout, ytdlp.stop)
    except TimeoutError:
        raise ProbeTimeout from None
    except Interrupted:
        raise ProbeInterrupted from None
    return ProbeRun(done.returncode, done.stdout, done.stderr)


def ytdlp_check(ytdlp: Ytdlp, url: str, timeout: float) -> CheckResult:
    """Check ``url`` with yt-dlp; never raises for platform or network failures."""
    if not ytdlp.network.allow_private_addresses:
        try:
            check_host(urlsplit(url).hostname or "", 443)
        except FetchError as exc:  # refused, or the name does not resolve
            return _result("error", str(exc))
    try:
        run = run_probe(ytdlp, url, timeout)
    except ProbeTimeout:
        return _result("error", f"yt-dlp timed out after {timeout:g}s")
    except ProbeInterrupted:
        return _result("error", "interrupted by shutdown")
    except OSError as exc:
        return _result("error", f"yt-dlp could not start: {exc.strerror or exc}")
    return classify_run(run)


def classify_run(run: ProbeRun) -> CheckResult:
    """Turn yt-dlp's exit code, JSON and error line into a check result."""
    if run.returncode < 0:
        return _result("error", f"yt-dlp crashed ({signal.Signals(-run.returncode).name})")
    if run.returncode == 0:
        return _classify_info(run.stdout)
    return classify_message(error_line(run.stderr))


def classify_message(message: str) -> CheckResult:
    """Classify one yt-dlp error message (its ``ERROR:`` line, prefix removed)."""
    status: Status = "error"
    http_status: int | None = None
    if match := _HTTP_ERROR.search(message):
        http_status = int(match.group(2))
        status = _http_status(http_status, page=bool(match.group(1)))
    elif _ERROR_FIRST.search(message):
        status = "error"
    elif _DRM.search(message):
        status = "live"
    elif _RESTRICTED.search(message):
        status = "restricted"
    elif _GONE.search(message):
        status = "gone"
    elif _LIVE.search(message):
        status = "live"
    return CheckResult(status, f"yt-dlp: {_shorten(message)}", http_status, None, PROBE)


def _http_status(code: int, *, page: bool) -> Status:
    """yt-dlp's HTTP errors: only the post's own page missing means it is gone.

    A 404 from one of the extractor's API calls usually means the platform changed
    its API; a 403 is nearly always an anti-bot block of our request.
    """
    if code in (404, 410):
        return "gone" if page else "error"
    if code in (401, 451):
        return "restricted"
    return "error"


def _classify_info(stdout: str) -> CheckResult:
    info = json_or_none(stdout.strip().splitlines()[-1]) if stdout.strip() else None
    if not isinstance(info, dict):
        return _result("error", "yt-dlp gave no metadata")
    what = " ".join(str(info[key]) for key in ("extractor_key", "id") if info.get(key))
    availability = info.get("availability")
    if isinstance(availability, str) and availability in _RESTRICTED_AVAILABILITY:
        return _result("restricted", f"yt-dlp: media is {availability} ({what})")
    return _result("live", f"yt-dlp: media found ({what})" if what else "yt-dlp: media found")


def _result(status: Status, reason: str) -> CheckResult:
    return CheckResult(status, _shorten(reason), None, None, PROBE)


def _shorten(text: str) -> str:
    """The platform's own sentences, without yt-dlp's advice on cookies and bug reports."""
    text = " ".join(text.split()).split(" (caused by ", 1)[0]
    kept: list[str] = []
    for sentence in text.split(". "):
        if _ADVICE.search(sentence):
            break
        kept.append(sentence)
    return ". ".join(kept).rstrip(" .")[:300] or "no output"
