"""Walls: pages put between a reader and what it asked for.

Anti-bot challenges, captchas, block pages and cookie-consent walls answer instead of
the site, with whatever status they like (a 403 most often): they say nothing of the
media behind them, so every probe that meets one, whether it asked a file, a player,
a post or a platform's oEmbed endpoint, reports an ``error`` and leaves the verdict to
the next check (or the next probe).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import httpx

from archiver.liveness.result import CheckResult

WALL_PROBE_BYTES = 64 * 1024  # walls are small pages: their marks are in the first 64 KB

# Cloudflare's challenge runs its scripts from ``/cdn-cgi/challenge-platform/…/orchestrate/``;
# its bot-detection snippet (``…/challenge-platform/scripts/jsd/main.js``) is on every page
# of the sites it serves, the site's own among them, and is no wall.
_WALL_MARKERS = re.compile(
    rb"cf-turnstile|challenge-platform/(?:h/\w+/)?orchestrate/|_cf_chl_opt|cf-chl-|"
    rb"<title>\s*just a moment|attention required! \| cloudflare|sorry, you have been blocked|"
    rb"captcha-delivery\.com|px-captcha|"
    rb"(?:complete|solve|enter|pass)\s+(?:the|this|a)\s+captcha|captcha\s+to\s+continue|"
    rb"are you a robot|verify you are (?:a )?human|unusual traffic from your",
    re.IGNORECASE,
)
_CONSENT_HOSTS = ("consent.", "guce.", "privacy-gate.", "cmp.")
_CONSENT_PATH = re.compile(r"(?:^|/)(?:consent|cookie-?consent|gdpr|privacy-?gate)(?:/|$)", re.I)


def challenged(headers: Mapping[str, str]) -> bool:
    """Cloudflare's mark on a challenge it answered instead of the site."""
    return str(headers.get("cf-mitigated", "")).strip().lower() == "challenge"


def is_wall(body: bytes, redirected_to: httpx.URL | None) -> bool:
    """Whether an HTML answer is a wall (a captcha, a bot check, a cookie-consent page)
    rather than the site's own page: it says nothing about the media behind it."""
    if redirected_to is not None and (
        redirected_to.host.startswith(_CONSENT_HOSTS) or _CONSENT_PATH.search(redirected_to.path)
    ):
        return True
    return bool(_WALL_MARKERS.search(body[:WALL_PROBE_BYTES]))


def wall_result(code: int, probe: str) -> CheckResult:
    """The ``error`` a wall is: whoever put it there answered, not the site."""
    reason = f"HTTP {code}: an anti-bot, captcha or consent page answered, not the site"
    return CheckResult("error", reason, code, None, probe)
