"""When a schedule fires, computed with APScheduler's own triggers in the schedule's time zone.

CronTrigger gets wall-clock truth right across DST (a missing spring-forward time fires once,
shifted forward), but on a fall-back day it returns both instants of a repeated local time. We
key every fire by its local date and wall time and keep only the first, so a 01:30 reminder
fires once on that night too.
"""

import datetime as dt
import functools
import itertools
import zoneinfo

from apscheduler.triggers.cron import CronTrigger

from backend.domain import parse_hhmm

ONE_SECOND = dt.timedelta(seconds=1)
# Longer than any DST shift there is (Antarctica/Troll moves two hours).
DST_LOOKBACK = dt.timedelta(hours=3)


def build_triggers(times, days, tz):
    """One cron trigger per time of day (a cron hour×minute product would invent times)."""
    day_of_week = ",".join(days)
    return [CronTrigger(day_of_week=day_of_week, hour=hour, minute=minute, timezone=tz)
            for hour, minute in map(parse_hhmm, sorted(set(times)))]


@functools.lru_cache(maxsize=4096)
def cached_triggers(times, days, tz_name):
    """The triggers of a (times, days, zone), built once per process: thousands of people share a
    few schedules (08:00 every day in Europe/Berlin), and building triggers was a third of a
    dispatch pass. A CronTrigger keeps no state between calls, so one serves every thread."""
    return tuple(build_triggers(times, days, zoneinfo.ZoneInfo(tz_name)))


def earliest_fire_time(triggers, now):
    """The earliest next fire of several triggers, compared as UTC instants.

    Not OrTrigger: it takes min() of aware datetimes in one zone, which Python compares by wall
    time ignoring the fold, so on a fall-back night it would put the second 01:30 before the
    first 01:45.
    """
    candidates = [t.get_next_fire_time(None, now) for t in triggers]
    candidates = [c for c in candidates if c is not None]
    return min(candidates, key=lambda c: c.astimezone(dt.timezone.utc)) if candidates else None


class Fire:
    """One fire of a schedule: the UTC instant and the local date and wall time it stands for."""

    __slots__ = ("at", "local_date", "local_time")

    def __init__(self, fire_time):
        # APScheduler returns the wall-clock time it matched (even when that wall time does not
        # exist on a spring-forward day); its naive part is the stable local key.
        self.at = fire_time.astimezone(dt.timezone.utc)
        self.local_date = fire_time.date()
        self.local_time = fire_time.strftime("%H:%M")

    @property
    def key(self):
        return self.local_date, self.local_time

    def __repr__(self):
        return f"Fire({self.at.isoformat()}, {self.local_date} {self.local_time})"


@functools.lru_cache(maxsize=8192)
def first_fire_from(times, days, tz_name, cursor):
    """The first Fire at or after the UTC instant `cursor`, or None; computed once per process for
    each schedule shape and instant. People who share a schedule (08:00 every day in Europe/Berlin)
    share its fires too: the 100,000 schedules of a flood due at one minute ask the triggers once,
    where each asking them was half of materialising an occurrence. A Fire is never changed."""
    fire_time = earliest_fire_time(cached_triggers(times, days, tz_name), cursor)
    return None if fire_time is None else Fire(fire_time)


def iter_fires(times, days, tz_name, after):
    """Fires strictly after `after`, each local date and wall time once, in order."""
    times, days = tuple(times), tuple(days)
    after = after.astimezone(dt.timezone.utc)
    # Search from a little earlier: a wall time skipped by spring-forward fires after the gap,
    # but CronTrigger only finds it from a wall time before the gap. Fires up to `after` are
    # only remembered, so their fall-back twins are recognised.
    cursor = after - DST_LOOKBACK
    # A repeated wall time comes back within the fall-back hour, so remembering the keys of
    # the current and previous local dates is enough.
    seen = set()
    while True:
        fire = first_fire_from(times, days, tz_name, cursor)
        if fire is None:
            return
        if fire.key not in seen:
            yesterday = fire.local_date - dt.timedelta(days=1)
            seen = {key for key in seen if key[0] >= yesterday}
            seen.add(fire.key)
            if fire.at > after:
                yield fire
        cursor = fire.at + ONE_SECOND  # in UTC: wall-clock arithmetic would lose the fold


def fires_between(times, days, tz_name, after, until):
    """Fires strictly after `after` and at or before `until`."""
    return list(itertools.takewhile(lambda fire: fire.at <= until, iter_fires(times, days, tz_name, after)))


def due_and_next(times, days, tz_name, after, until):
    """The fires in (after, until] and the first one after `until`, from one pass of the triggers."""
    due = []
    for fire in iter_fires(times, days, tz_name, after):
        if fire.at > until:
            return due, fire
        due.append(fire)
    return due, None


def next_fire(times, days, tz_name, after):
    """The first fire strictly after `after` (None if the schedule can never fire)."""
    return next(iter_fires(times, days, tz_name, after), None)
