"""archiver: find the media embedded in live blogs and feeds; keep the originals with provenance."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("archiver")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

#: How archiver names itself to the services its operator chose (the webhook, the
#: time-stamping authority); the sites it archives get ``[network] user_agent``.
PRODUCT = f"archiver/{__version__}"
