"""yt-dlp with stand-in extractors for sites the tests cannot reach."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Holds ``yt_dlp_plugins``, the package yt-dlp looks for plugins in on ``sys.path``.
PLUGINS = Path(__file__).parent / "ytdlp_plugins"


def standin_extractors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the yt-dlp that archiver starts load the stand-in extractors."""
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(PLUGINS), path])))
