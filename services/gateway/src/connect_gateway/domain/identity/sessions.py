"""When a browser session ends by itself: idle for too long, or older than its absolute life."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SessionPolicy:
    """Idle and absolute expiry; `touch_every` bounds how often a request writes `last_seen_at`."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    touch_every: timedelta = timedelta(seconds=60)

    def alive(self, created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
        """Whether a session created and last seen then is still valid now."""
        return now < last_seen_at + self.idle and now < created_at + self.absolute

    def needs_touch(self, last_seen_at: datetime, now: datetime) -> bool:
        """Whether this request should record activity (a write per request would be a write per read)."""
        return now - last_seen_at >= self.touch_every
