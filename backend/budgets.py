"""Guess budgets: how many tries at a secret code (an invite code, a report link) are allowed.

Each try is counted *before* the code is looked at, with one atomic increment per counter (Redis
INCR, or the process's memory): parallel guesses cannot slip in between a check and a count, as
they can when only failures are counted after the answer. A try is counted against each of its
keys (the account, the address) and against a ceiling for the whole code space, so rotating
accounts or addresses does not reset the budget. A try that found what it looked for is refunded:
people who type their own code right, or reread a report, never run out.
"""

import dataclasses
import logging
import time

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from backend.extensions import limiter

log = logging.getLogger(__name__)

# When the shared storage (Redis) is out of reach: this process's own counters, as Flask-Limiter does.
_local = FixedWindowRateLimiter(MemoryStorage())


@dataclasses.dataclass
class Spent:
    """The counters one try was counted on, to refund them if the try found its code."""

    strategy: FixedWindowRateLimiter
    counted: list

    def refund(self):
        for item, identifiers in self.counted:
            self.strategy.storage.incr(item.key_for(*identifiers), item.get_expiry(), amount=-1)


class GuessBudget:
    """Tries at one kind of code: limits per kind of key (account, address) and a ceiling for all."""

    def __init__(self, name, limits, ceiling):
        self.name = name
        self.limits = {kind: parse_many(text) for kind, text in limits.items()}
        self.ceiling = parse_many(ceiling)

    def spend(self, **keys):
        """Count one try against each key (account=…, address=…) and the ceiling; a 429 with
        Retry-After if any of them is used up. Returns what to refund if the try succeeds."""
        counters = [(item, (self.name, kind, str(value))) for kind, value in keys.items()
                    for item in self.limits[kind]]
        counters += [(item, (self.name, "all")) for item in self.ceiling]
        strategy = _strategy()
        try:
            allowed = [strategy.hit(item, *identifiers) for item, identifiers in counters]
        except Exception as error:  # noqa: BLE001 (the storage's connection errors): count in this process
            _shared_out_of_reach(self.name, error)
            strategy = _local
            allowed = [strategy.hit(item, *identifiers) for item, identifiers in counters]
        if not all(allowed):
            waits = [strategy.get_window_stats(item, *ids).reset_time for (item, ids), ok in zip(counters, allowed)
                     if not ok]
            raise TooManyRequests("Too many tries: wait before trying again.",
                                  retry_after=max(1, int(max(waits) - time.time())))
        return Spent(strategy, counters)


def _strategy():
    """The shared counters, unless they were out of reach a moment ago."""
    if time.monotonic() < _shared_down_until[0]:
        return _local
    return FixedWindowRateLimiter(limiter.storage)


# While the shared counters are out of reach, this process counts on its own and looks again later.
SHARED_RETRY_SECONDS = 30
_shared_down_until = [0.0]


def _shared_out_of_reach(name, error):
    _shared_down_until[0] = time.monotonic() + SHARED_RETRY_SECONDS
    log.warning("guess budget %s: shared counters out of reach (%s); counting in this process for %s s",
                name, type(error).__name__, SHARED_RETRY_SECONDS)


def reset():
    """Forget this process's own counters and any outage (tests, beside `limiter.reset()`)."""
    _local.storage.reset()
    _shared_down_until[0] = 0.0
