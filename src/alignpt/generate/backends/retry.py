"""When to retry, and how long to wait: exponential backoff with jitter, Retry-After honoured.

Retries are for trouble that goes away: 429 (rate limited), 408/409/425, 5xx, timeouts,
dropped connections and malformed bodies (a proxy's HTML error page, a cut-off JSON). A
401/403/404 will not go away, so the run stops at once with a message that says which
setting to fix; a 400/413/422 is a problem with one request, which is given up and
counted while the run goes on.

The wait before retry ``k`` (1-based) is "equal jitter": half of ``min(cap, base*2**(k-1))``
plus a uniform draw over the other half, so waits grow reliably but concurrent clients
spread out. A server's ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms`` is
a floor on that wait, capped at ``max_retry_after_s`` so a bad header cannot park a run.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass, field

__all__ = ["RetryPolicy", "parse_retry_after", "classify_status"]

RETRY_STATUS = {408, 409, 425, 429}
FATAL_STATUS = {401: "authentication failed", 403: "permission denied", 404: "not found"}


def classify_status(status: int) -> str:
    """``ok`` | ``retry`` | ``fatal`` (stop the run) | ``reject`` (give up this request)."""
    if 200 <= status < 300:
        return "ok"
    if status in RETRY_STATUS or status >= 500:
        return "retry"
    if status in FATAL_STATUS:
        return "fatal"
    return "reject"


def parse_retry_after(headers: dict[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            if math.isfinite(value):
                return max(0.0, value)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
        return max(0.0, value) if math.isfinite(value) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class RetryPolicy:
    max_attempts: int = 8
    base_s: float = 1.0
    cap_s: float = 60.0
    max_retry_after_s: float = 300.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** (retry - 1))
        wait = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after_s))
        return wait
