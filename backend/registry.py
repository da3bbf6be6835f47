"""What the features plug into the lower ones, looked up at run time from the app.

Events, push and accounts sit low in the import order; what reacts to them lives higher up
(monitoring's rules, reminders' message texts). The higher features fill these registries in
`backend.wiring`, which `create_app` installs, so nothing low imports anything above it.
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from flask import current_app


@dataclasses.dataclass(frozen=True)
class Registry:
    # Event class → its handlers, run in order by the jobs' drain.
    event_handlers: Mapping[type, Sequence[Callable]]
    # Push purpose → the message builder of the feature that sends it.
    push_builders: Mapping[str, object]
    # Called with the user, in the request's transaction, when their profile's time zone changed.
    zone_followers: Sequence[Callable] = ()
    # Called with (the previous owner's id, the device, the api.Client) when a push token one account
    # registered is registered by another, in that request's transaction.
    device_move_watchers: Sequence[Callable] = ()
    # Called with `now` at each /metrics scrape: (name, help, value) gauges of what is waiting.
    backlog_gauges: Sequence[Callable] = ()


def init_app(app, registry):
    app.extensions["careloop.registry"] = registry


def registry():
    return current_app.extensions["careloop.registry"]
