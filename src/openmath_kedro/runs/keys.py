"""Cache keys: a short, stable hash of the settings that decide whether finished work can be reused."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def settings_hash(value: Any) -> str:
    """16 hex digits of the SHA-256 of ``value`` as canonical JSON (sorted keys; other types as ``str``)."""
    canonical = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
