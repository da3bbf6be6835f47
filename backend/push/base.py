"""The push transport interface: send a batch of messages, get one result per message."""

import dataclasses
from typing import Protocol, Sequence

# What went wrong, in the terms the dispatcher acts on.
UNREGISTERED = "unregistered"      # the app was uninstalled or the token expired: deactivate now
INVALID_TOKEN = "invalid_token"    # malformed token or wrong sender: deactivate now
THROTTLED = "throttled"            # 429: retry later, honouring retry_after
UNAVAILABLE = "unavailable"        # 5xx or network: retry later with backoff
REJECTED = "rejected"              # anything else: record it, do not retry

PERMANENT_TOKEN_ERRORS = frozenset({UNREGISTERED, INVALID_TOKEN})
RETRYABLE_ERRORS = frozenset({THROTTLED, UNAVAILABLE})


@dataclasses.dataclass(frozen=True)
class PushMessage:
    """One notification to one device token."""

    token: str
    title: str
    body: str
    # String-only payload for the app (occurrence id, kind); never health details.
    data: dict = dataclasses.field(default_factory=dict)
    # Newer pushes with the same key replace older ones still queued on the device or at FCM.
    collapse_key: str | None = None
    # After this, FCM drops the message instead of delivering it late.
    ttl_seconds: int = 3600
    # "high" wakes the device at once (reminders, urgent prompts); "normal" may be batched.
    priority: str = "high"


@dataclasses.dataclass(frozen=True)
class PushResult:
    """The outcome of sending one PushMessage."""

    ok: bool
    message_id: str | None = None
    error: str | None = None          # one of the error kinds above
    retry_after: float | None = None  # seconds, when the service said so
    detail: str | None = None         # the service's error code/message, for the delivery record

    @property
    def retryable(self):
        return self.error in RETRYABLE_ERRORS

    @property
    def token_is_dead(self):
        return self.error in PERMANENT_TOKEN_ERRORS


class PushTransport(Protocol):
    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        """Send every message; never raise for a per-message failure; results in input order."""
