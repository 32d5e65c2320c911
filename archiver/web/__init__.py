"""The web app and JSON API over an archive (FastAPI, server-rendered pages).

``create_app(archive)`` builds the ASGI app; ``serve`` runs it in the foreground
(``archiver serve``) and ``start_background`` beside the daemon (``archiver run``).
"""

from archiver.web.app import create_app
from archiver.web.server import Background, BindError, serve, start_background

__all__ = ["Background", "BindError", "create_app", "serve", "start_background"]
