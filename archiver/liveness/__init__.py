"""Liveness of archived embeds: is the media still served where the article embeds it?

Probes (:class:`Prober`) tell ``live``, ``gone``, ``restricted`` or ``error`` for one
embed; :class:`WebhookNotifier` tells editors when that changes.
"""

from archiver.liveness.probes import CheckResult, Prober, Status
from archiver.liveness.webhook import LivenessEvent, WebhookNotifier

__all__ = ["CheckResult", "LivenessEvent", "Prober", "Status", "WebhookNotifier"]
