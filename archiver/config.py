"""The TOML configuration: one validated model, with errors that name the bad key."""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from archiver import PRODUCT
from archiver.errors import ConfigError

CONFIG_ENV = "ARCHIVER_CONFIG"

_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}
_SIZE_UNITS |= {"kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


#: Larger is a typo: no file or disk is that big, and the database's integers end there.
MAX_SIZE = 2**63 - 1


def parse_size(value: object) -> int:
    """Bytes from ``123``, ``"20MiB"`` or ``"8 GB"``."""
    size: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
        if m and m.group(2).lower() in _SIZE_UNITS:
            # exact: a float turned 400 digits into infinity, and that into a traceback
            size = int(Decimal(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    if size is None:
        raise ValueError(f"not a size: {value!r} (use bytes or e.g. '20MiB', '8GB')")
    if size > MAX_SIZE:
        raise ValueError(f"{value!r} is larger than any size ({MAX_SIZE:,} bytes)")
    return size


#: Longer is a typo, and dates computed from it would leave the calendar.
MAX_DURATION = 10 * 365 * 86400.0


def parse_duration(value: object, *, allow_zero: bool = False) -> float:
    """Seconds from ``90``, ``"30s"``, ``"10m"``, ``"1h"``, ``"1d"`` or ``"1h30m"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):  # nan passed both below
            raise ValueError(f"{value!r} is not a number of seconds")
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError("a duration must be positive")
        if value > MAX_DURATION:
            raise ValueError(f"{value!r} seconds is longer than 10 years")
        return float(value)
    if isinstance(value, str):
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhdw])", value.strip().lower())
        rebuilt = "".join(f"{n}{u}" for n, u in parts)
        if parts and rebuilt == re.sub(r"\s+", "", value.strip().lower()):
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
            if seconds > MAX_DURATION:
                raise ValueError(f"{value!r} is longer than 10 years")
            if seconds > 0 or allow_zero:
                return seconds
    raise ValueError(f"not a duration: {value!r} (use e.g. '30s', '10m', '1h', '1d')")


Size = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]
Duration = Annotated[float, BeforeValidator(parse_duration)]
Delay = Annotated[float, BeforeValidator(lambda v: parse_duration(v, allow_zero=True))]


class _Section(BaseModel):
    # strict: a TOML string is no boolean or number (``allow_private_addresses = "no"``
    # must not turn the address guard off), an integer no boolean; a float takes an int
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _root(value: object) -> object:
    """A directory's name: an empty one would put the archive beside the config."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("empty: name a directory (a relative one is relative to the config)")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


def _database_url(url: str) -> str:
    """SQLite on a file, or PostgreSQL through psycopg 3: what archiver installs and runs."""
    if not url:
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "\x00" in url:
        raise ValueError("contains a NUL character")
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError):
        raise ValueError(f"not a database URL: {url!r}") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" and driver == "pysqlite":
        memory = not parsed.database or ":memory:" in parsed.database  # "file::memory:"
        if memory or "mode=memory" in url:
            raise ValueError("an in-memory SQLite database keeps nothing: name a file")
        return url
    if backend == "postgresql" and driver == "psycopg":
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"port {port} out of range")
        _libpq_options({k: str(v) for k, v in parsed.query.items()})
        return url
    if backend == "postgresql":
        raise ValueError("PostgreSQL is reached through psycopg 3: postgresql+psycopg://...")
    raise ValueError(f"unsupported database {url.partition(':')[0]!r}: sqlite or postgresql")


_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _libpq_options(options: dict[str, str]) -> None:
    """Refuse connection options libpq does not know, or would refuse only when the
    daemon connects (a bad ``sslmode`` read as a database that is down, restarted for
    ever)."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    try:
        make_conninfo("", **options)
    except psycopg.Error as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    if options.get("sslmode", "prefer") not in _SSL_MODES:
        raise ValueError(f"sslmode must be one of {', '.join(_SSL_MODES)}")
    timeout = options.get("connect_timeout", "0")
    if not timeout.isdecimal():
        raise ValueError(f"connect_timeout must be whole seconds, not {timeout!r}")


def _header_value(value: str) -> str:
    """What an HTTP header can carry: printable ASCII (a newline would end the header)."""
    if any(not (" " <= char <= "~" or char == "\t") for char in value):
        raise ValueError("only printable ASCII characters can be sent in an HTTP header")
    return value


def _user_agent(value: str) -> str:
    """Who archiver says it is: site owners read it to reach whoever archives them, so
    an empty (or blank) one is refused, as a dishonest one would be."""
    if not value.strip():
        raise ValueError("must not be empty: say who you are (see config/archiver.toml)")
    return _header_value(value)


class StorageConfig(_Section):
    # TOML has no path type
    root: Annotated[Path, BeforeValidator(_root), Field(strict=False)] = Path("storage")


class DatabaseConfig(_Section):
    url: Annotated[str, AfterValidator(_database_url)] = ""  # empty: <root>/archive.db


class NetworkConfig(_Section):
    allow_private_addresses: bool = False
    user_agent: Annotated[str, AfterValidator(_user_agent)] = (
        f"{PRODUCT} (evidence archival; +https://github.com/archiver-project/archiver)"
    )
    connect_timeout: Duration = 10.0
    read_timeout: Duration = 30.0
    download_deadline: Duration = 3600.0
    # past the deadline a download goes on while its bytes so far average this rate
    download_min_rate: Annotated[int, BeforeValidator(parse_size), Field(ge=0)] = 64 * 1024
    page_deadline: Duration = 120.0
    max_file_size: Size = 8 * 1024**3
    max_page_size: Size = 20 * 1024**2
    max_redirects: int = Field(default=10, ge=0, le=50)


class DownloadConfig(_Section):
    concurrency: int = Field(default=4, ge=1, le=64)
    per_host_concurrency: int = Field(default=2, ge=1, le=64)
    # a platform video archived through another page this recently is not fetched again
    reuse_within: Delay = 7 * 24 * 3600.0


class YtdlpConfig(_Section):
    command: list[str] = Field(default_factory=list)  # empty: this Python's yt_dlp module
    timeout: Duration = 1800.0
    format: str = ""  # empty: yt-dlp's own default selection
    write_subtitles: bool = True
    write_thumbnail: bool = True


class PostsConfig(_Section):
    """X, Telegram, Reddit, Instagram, TikTok, Threads, Bluesky and Imgur posts' photos,
    which yt-dlp leaves out (see ``archiver.fetch.posts``)."""

    photos: bool = True
    x_syndication_url: str = "https://cdn.syndication.twimg.com/tweet-result"
    telegram_url: str = "https://t.me"
    reddit_url: str = "https://www.reddit.com"
    instagram_url: str = "https://www.instagram.com"
    tiktok_url: str = "https://www.tiktok.com"
    threads_url: str = "https://www.threads.com"
    bluesky_url: str = "https://public.api.bsky.app"
    plc_url: str = "https://plc.directory"  # where Bluesky accounts' data servers are named
    imgur_url: str = "https://api.imgur.com"
    # the client id Imgur's own web app sends with each request (yt-dlp sends it too)
    imgur_client_id: str = Field(default="546c25a59c58ad7", pattern=r"^[A-Za-z0-9]{1,64}$")

    @field_validator(
        "x_syndication_url",
        "telegram_url",
        "reddit_url",
        "instagram_url",
        "tiktok_url",
        "threads_url",
        "bluesky_url",
        "plc_url",
        "imgur_url",
    )
    @classmethod
    def _http(cls, value: str) -> str:
        return _http_url(value)


class PollingConfig(_Section):
    default_every: Duration = 600.0  # a source added without --every
    per_host_concurrency: int = Field(default=2, ge=1, le=64)
    per_host_delay: Delay = 1.0  # pause between requests to one host
    max_backoff: Duration = 6 * 3600.0  # cap of the per-source backoff after errors
    jitter: float = Field(default=0.1, ge=0, le=0.5)  # +/- share of the interval
    concurrency: int = Field(default=8, ge=1, le=256)  # sources polled at once
    # older pages of a live page split into pages, read per poll (0: the page alone)
    older_pages: int = Field(default=30, ge=0, le=1000)
    # how often they are all read again, back to `older_pages`, changed or not: an
    # update on an older page edited to add its video (0: never)
    older_pages_read_back: Delay = 24 * 3600.0


def _at_least(least: float, why: str) -> AfterValidator:
    """A duration of ``least`` seconds or more; ``why`` says what a shorter one does."""

    def check(seconds: float) -> float:
        if seconds < least:
            raise ValueError(f"at least {least:g}s: {why}")
        return seconds

    return AfterValidator(check)


Lease = Annotated[Duration, _at_least(1.0, "a shorter lease can lapse while its job runs")]
Tick = Annotated[Duration, _at_least(0.05, "a shorter tick only keeps the database busy")]


class DaemonConfig(_Section):
    # in-flight downloads may finish within this; under systemd, keep the unit's
    # TimeoutStopSec above it plus [network] read_timeout, or the stop ends in SIGKILL
    shutdown_grace: Duration = 30.0
    lease: Lease = 600.0  # a job's claim; renewed every third of it while the job runs
    tick: Tick = 1.0  # how often due sources and due jobs are looked for


class LivenessConfig(_Section):
    enabled: bool = True  # the daemon re-checks embeds on the schedule below
    live_every: Duration = 24 * 3600.0
    error_every: Duration = 3600.0  # doubled after each further error, up to live_every
    gone_every: Duration = 7 * 24 * 3600.0  # to notice a return
    restricted_every: Duration = 3 * 24 * 3600.0
    jitter: float = Field(default=0.1, ge=0, le=0.5)
    per_host_rate: float = Field(default=1.0, gt=0)  # requests per second to one host
    concurrency: int = Field(default=16, ge=1, le=512)
    timeout: Duration = 15.0
    # POST a JSON event when an embed turns gone or restricted
    webhook_url: Annotated[str, AfterValidator(_http_url_or_none)] = ""
    # e.g. "Authorization: Bearer ..."; never logged
    webhook_header: Annotated[str, AfterValidator(_header_or_none)] = ""


_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the app on this machine."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name that might resolve anywhere


def _bind_host(host: str) -> str:
    """An IP address or a host name to listen on (``0.0.0.0``, ``::1``, ``localhost``);
    an IPv6 address written in brackets, as in a URL, is taken without them."""
    name = host.strip()
    try:
        return str(ipaddress.ip_address(name.removeprefix("[").removesuffix("]")))
    except ValueError:
        numeric = name.rstrip(".").replace(".", "").isdigit()  # 256.300.1.1: no address
        if numeric or len(name) > 253 or not _HOST_NAME.fullmatch(name):
            raise ValueError(f"not an IP address or host name: {host!r}") from None
    return name


class WebConfig(_Section):
    enabled: bool = True  # `archiver run` also serves the web app
    # loopback by default; any other address needs `token`
    host: Annotated[str, AfterValidator(_bind_host)] = "127.0.0.1"
    port: int = Field(default=8787, ge=1, le=65535)
    token: str = ""  # API token: required on every route off loopback, and for writes
    public_read_only: bool = False  # off loopback, allow reads without the token
    max_upload: Size = 512 * 1024**2  # "find this file" uploads
    # how others reach it (for embed snippets); empty: the address a request came to
    base_url: Annotated[str, AfterValidator(_http_url_or_none)] = ""


class FixityConfig(_Section):
    enabled: bool = True  # the daemon re-hashes the archive on this cycle
    every: Duration = 7 * 24 * 3600.0  # each file once per cycle: 1/7 of the archive a day


class ExportConfig(_Section):
    organization: str = ""  # bag-info.txt Source-Organization


class TimestampConfig(_Section):
    # RFC 3161 time-stamping authority; empty: no timestamps
    tsa_url: Annotated[str, AfterValidator(_http_url_or_none)] = ""
    every: Duration = 24 * 3600.0
    timeout: Duration = 30.0


SourceKind = Literal["auto", "feed", "page"]
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)


def is_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host and a valid port, without control characters
    (a NUL): what a source or a capture can fetch."""
    text = url.strip()
    if any(ord(c) < 0x20 or c == "\x7f" for c in text):
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
        host = parts.hostname
    except ValueError:  # "http://[::1": an IPv6 address left open
        return False
    return parts.scheme in ("http", "https") and bool(host)


def _http_url(url: str) -> str:
    if not is_http_url(url):
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url.strip()


def _header_or_none(header: str) -> str:
    """``Name: value``, or empty for none (without a colon it was dropped unsent)."""
    name, colon, _ = header.partition(":")
    if header.strip() and (not colon or not name.strip()):
        raise ValueError('not a header: write it as "Name: value"')
    return _header_value(header)


def _http_url_or_none(url: str) -> str:
    """An http(s) URL, or empty for "none"."""
    return _http_url(url) if url.strip() else ""


class SourceEntry(_Section):
    """A ``[[sources]]`` table: synced into the index at start."""

    url: Annotated[str, AfterValidator(_http_url)]
    every: Duration | None = None
    name: str | None = None
    kind: SourceKind = "auto"


class Config(_Section):
    storage: StorageConfig = StorageConfig()
    database: DatabaseConfig = DatabaseConfig()
    network: NetworkConfig = NetworkConfig()
    download: DownloadConfig = DownloadConfig()
    ytdlp: YtdlpConfig = YtdlpConfig()
    posts: PostsConfig = PostsConfig()
    polling: PollingConfig = PollingConfig()
    daemon: DaemonConfig = DaemonConfig()
    liveness: LivenessConfig = LivenessConfig()
    web: WebConfig = WebConfig()
    fixity: FixityConfig = FixityConfig()
    export: ExportConfig = ExportConfig()
    timestamp: TimestampConfig = TimestampConfig()
    sources: list[SourceEntry] = Field(default_factory=list)

    @property
    def storage_root(self) -> Path:
        return self.storage.root.resolve()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.storage_root / 'archive.db'}"


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{key}: {message}"


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the config from ``path``, else ``$ARCHIVER_CONFIG``, else use the defaults.

    Relative paths in the file are relative to the file itself, so a config can be
    moved together with its archive.
    """
    chosen = path if path is not None else os.environ.get(CONFIG_ENV)
    if chosen == "" and path is None:
        # an environment file's `ARCHIVER_CONFIG=`: the defaults made an archive in
        # whatever folder the command ran in
        raise ConfigError(f"{CONFIG_ENV} is set but empty: name a config file, or unset it")
    if chosen is None:
        return Config()
    file = Path(chosen)
    try:
        data: dict[str, Any] = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {file}: {exc}") from None
    except (tomllib.TOMLDecodeError, ValueError) as exc:  # ValueError: an int of 4,301 digits
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    return config_from_dict(data, base_dir=file.resolve().parent, source=file)


def config_from_dict(
    data: dict[str, Any], *, base_dir: Path | None = None, source: Path | None = None
) -> Config:
    """Validate a parsed config; relative paths are resolved against ``base_dir``."""
    where = f"{source}: " if source else ""
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}{_describe(exc)}") from None
    try:
        root = config.storage.root.expanduser()  # "~/archive", as a shell would read it
    except RuntimeError:  # "~nobody/archive" names no user with a home directory
        home = str(config.storage.root)
        raise ConfigError(f"{where}storage.root: no home directory for {home!r}") from None
    duplicate = _duplicate_source(config.sources)
    if duplicate is not None:
        raise ConfigError(f"{where}{duplicate}")
    database = config.database
    if base_dir is not None:
        root = base_dir / root  # an absolute root stays what it is
        database = DatabaseConfig(url=_rebased_sqlite(database.url, base_dir))
    return config.model_copy(update={"storage": StorageConfig(root=root), "database": database})


def _duplicate_source(sources: list[SourceEntry]) -> str | None:
    """Which ``[[sources]]`` table repeats the URL of an earlier one, however spelled
    (`clean_url`: the host's case, a fragment, tracking parameters): the last one
    silently won (a daily source polled every minute, under another name)."""
    from archiver.extract.urls import clean_url  # not at import: every command reads config

    first: dict[str, int] = {}
    for number, entry in enumerate(sources):
        earlier = first.setdefault(clean_url(entry.url.strip()), number)
        if earlier != number:
            return f"sources.{number}.url: {entry.url!r} is also at sources.{earlier}"
    return None


def _rebased_sqlite(url: str, base_dir: Path) -> str:
    """A SQLite URL naming a relative file (``sqlite:///index.db``) as relative to the
    config file, like the storage root: else the index a daemon opens would depend on
    the directory it was started from."""
    scheme, sep, path = url.partition(":///")
    if not sep or scheme.split("+")[0] != "sqlite" or path.startswith("/"):
        return url
    if path.startswith("file:"):  # an SQLite URI names its file itself
        return url
    return f"{scheme}:///{base_dir / path}"
