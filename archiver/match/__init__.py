"""Near-duplicate decisions and the index that answers "have we seen this file?".

``compare(a, b)`` applies the documented decision rules (docs/matching.md) to two
fingerprints; `FingerprintIndex` finds, among everything stored, what matches a new
fingerprint, best first.
"""

from __future__ import annotations

from .compare import DECISION, Match, compare
from .index import FingerprintIndex

__all__ = ["DECISION", "FingerprintIndex", "Match", "compare"]
