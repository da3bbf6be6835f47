"""The quiet majority: thousands of people who only receive reminders, written straight into the
database (their sign-up through the API would take longer than the soak), and the minutes at which
everyone's reminders come due.

Each has one device (one in fifty an uninstalled app, which FCM answers UNREGISTERED) and one
reminder schedule whose local times are wall-clock minutes of the soak, in the person's zone (half
of the schedules follow the profile's zone, half name it), so that every minute of the steady phase
a share of them comes due.
"""

import datetime as dt
import json
import math
import uuid
import zoneinfo

from bench.soak.phones import ZONES

# Reminder schedules take at most this many times of day (backend.reminders.schemas.MAX_TIMES).
MAX_TIMES = 12
DEAD_EVERY = 50
WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def due_minutes(first, last):
    """Every whole UTC minute from `first` to `last`, inclusive."""
    minutes, at = [], first
    while at <= last:
        minutes.append(at)
        at += dt.timedelta(minutes=1)
    return minutes


def every_nth(minutes, n, offset):
    """The minutes a schedule with offset `offset` fires at when everyone fires every `n` minutes
    (at most MAX_TIMES of them)."""
    return [at for i, at in enumerate(minutes) if i % n == offset % n][:MAX_TIMES]


def local_times(instants, zone):
    tz = zoneinfo.ZoneInfo(zone)
    return [at.astimezone(tz).strftime("%H:%M") for at in instants]


class QuietPeople:
    def __init__(self, run_id, count):
        self.run_id, self.count = run_id, count
        self.user_ids = [uuid.uuid4() for _ in range(count)]
        self.tokens = [f"soak-{run_id}-quiet-{n}:" + uuid.uuid4().hex * 4 for n in range(count)]
        self.dead_tokens = [token for n, token in enumerate(self.tokens) if n % DEAD_EVERY == 0]

    def seed(self, connection, minutes, every):
        """Write the people, their devices and schedules; returns the (schedule id, due instant)
        pairs owed an occurrence."""
        every = max(every, math.ceil(len(minutes) / MAX_TIMES))
        now = dt.datetime.now(dt.timezone.utc)
        users, devices, schedules, owed = [], [], [], []
        for n, (user_id, token) in enumerate(zip(self.user_ids, self.tokens)):
            zone = ZONES[n % len(ZONES)]
            fires = every_nth(minutes, every, n)
            if not fires:
                continue
            users.append((user_id, f"soak-{self.run_id}-quiet-{n}", zone, now))
            devices.append((uuid.uuid4(), user_id, token, "android" if n % 2 else "ios", now))
            schedule_id = uuid.uuid4()
            schedules.append((schedule_id, user_id, "dose" if n % 2 else "custom", json.dumps(local_times(fires, zone)),
                              json.dumps(WEEK), None if n % 2 else zone, fires[0], now))
            owed += [(str(schedule_id), at) for at in fires]
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO users (id, firebase_uid, timezone, notification_privacy, created_at, updated_at) "
                "VALUES (%s, %s, %s, 'discreet', %s, %s)", [(*row, row[-1]) for row in users])
            cursor.executemany(
                "INSERT INTO devices (id, user_id, token, platform, active, last_seen_at, created_at) "
                "VALUES (%s, %s, %s, %s, true, %s, %s)", [(*row, row[-1]) for row in devices])
            cursor.executemany(
                "INSERT INTO reminder_schedules (id, user_id, kind, times, days, timezone, active, next_fire_at, "
                "                                created_at, updated_at) "
                "VALUES (%s, %s, %s, %s::json, %s::json, %s, true, %s, %s, %s)", [(*row, row[-1]) for row in schedules])
        connection.commit()
        return owed
