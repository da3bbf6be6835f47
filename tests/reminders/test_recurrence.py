"""Wall-clock truth of schedules, computed with APScheduler's CronTrigger in the schedule's zone."""

import datetime as dt

import pytest

from backend.reminders.recurrence import cached_triggers, fires_between, first_fire_from, next_fire
from tests.support import UTC, utc

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def fire_instants(times, tz, after, until, days=EVERY_DAY):
    return [(f.at, f.local_date.isoformat(), f.local_time) for f in fires_between(times, days, tz, after, until)]


@pytest.mark.parametrize("tz, before, after", [
    # The 09:00 reminder moves in UTC across the change, never in local time.
    ("America/New_York", utc(2026, 3, 7, 14), utc(2026, 3, 9, 13)),        # spring forward 8 March
    ("America/New_York", utc(2026, 10, 31, 13), utc(2026, 11, 2, 14)),     # fall back 1 November
    ("Europe/London", utc(2026, 3, 28, 9), utc(2026, 3, 30, 8)),           # 29 March
    ("Europe/London", utc(2026, 10, 24, 8), utc(2026, 10, 26, 9)),         # 25 October
    ("Australia/Lord_Howe", utc(2026, 10, 2, 22, 30), utc(2026, 10, 4, 22)),  # +10:30 → +11, 4 October
])
def test_nine_am_stays_nine_am_local_across_dst(tz, before, after):
    fires = fires_between(["09:00"], EVERY_DAY, tz, before - dt.timedelta(hours=1), after)
    assert [f.local_time for f in fires] == ["09:00"] * 3
    assert fires[0].at == before and fires[-1].at == after
    assert len({f.local_date for f in fires}) == 3


@pytest.mark.parametrize("tz, local_time, day, expected", [
    # 02:30 does not exist on 8 March in New York (02:00 → 03:00): it fires once, at 03:30 EDT.
    ("America/New_York", "02:30", dt.date(2026, 3, 8), utc(2026, 3, 8, 7, 30)),
    # 01:30 does not exist on 29 March in London (01:00 → 02:00): once, at 02:30 BST.
    ("Europe/London", "01:30", dt.date(2026, 3, 29), utc(2026, 3, 29, 1, 30)),
    # Lord Howe springs forward by half an hour (02:00 → 02:30): 02:15 fires at 02:45 (+11:00).
    ("Australia/Lord_Howe", "02:15", dt.date(2026, 10, 4), utc(2026, 10, 3, 15, 45)),
])
def test_missing_spring_forward_time_fires_once_shifted_forward(tz, local_time, day, expected):
    start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), UTC)
    fires = fire_instants([local_time], tz, start, start + dt.timedelta(days=2))
    on_the_day = [f for f in fires if f[1] == day.isoformat()]
    assert on_the_day == [(expected, day.isoformat(), local_time)]
    assert len(fires) == 2  # and the next day is normal


@pytest.mark.parametrize("tz, local_time, day, first", [
    ("America/New_York", "01:30", dt.date(2026, 11, 1), utc(2026, 11, 1, 5, 30)),
    ("Europe/London", "01:30", dt.date(2026, 10, 25), utc(2026, 10, 25, 0, 30)),
    # Lord Howe falls back half an hour (02:00 → 01:30): 01:45 happens twice on 5 April.
    ("Australia/Lord_Howe", "01:45", dt.date(2026, 4, 5), utc(2026, 4, 4, 14, 45)),
])
def test_repeated_fall_back_time_fires_once(tz, local_time, day, first):
    start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), UTC)
    fires = fire_instants([local_time], tz, start, start + dt.timedelta(days=2))
    on_the_day = [f for f in fires if f[1] == day.isoformat()]
    assert on_the_day == [(first, day.isoformat(), local_time)]


def test_two_times_inside_the_repeated_hour_each_fire_once_in_order():
    fires = fire_instants(["01:30", "01:45"], "America/New_York", utc(2026, 10, 31, 12), utc(2026, 11, 1, 12))
    assert fires == [
        (utc(2026, 11, 1, 5, 30), "2026-11-01", "01:30"),
        (utc(2026, 11, 1, 5, 45), "2026-11-01", "01:45"),
    ]


def test_next_fire_after_the_first_of_a_repeated_time_skips_its_twin():
    fire = next_fire(["01:30"], EVERY_DAY, "America/New_York", utc(2026, 11, 1, 5, 30))
    assert (fire.at, fire.local_date) == (utc(2026, 11, 2, 6, 30), dt.date(2026, 11, 2))


def test_weekdays_limit_the_days_it_fires_on():
    # 2026-11-23 is a Monday.
    fires = fires_between(["08:00"], ["mon", "fri"], "UTC", utc(2026, 11, 22), utc(2026, 12, 1))
    assert [f.local_date.strftime("%a") for f in fires] == ["Mon", "Fri", "Mon"]


def test_several_times_a_day_are_each_their_own_time_not_a_cross_product():
    fires = fires_between(["08:15", "21:30"], EVERY_DAY, "UTC", utc(2026, 11, 25), utc(2026, 11, 26))
    assert [f.local_time for f in fires] == ["08:15", "21:30"]


@pytest.mark.parametrize("after", [utc(2026, 3, 8, 6, 59), utc(2026, 3, 8, 7, 10), utc(2026, 3, 8, 7, 29, 59)])
def test_shifted_spring_forward_fire_is_found_from_just_before_it(after):
    # CronTrigger alone, searching from a wall time after the gap (03:10 EDT), would skip to 9 March.
    fire = next_fire(["02:30"], EVERY_DAY, "America/New_York", after)
    assert (fire.at, fire.local_date, fire.local_time) == (utc(2026, 3, 8, 7, 30), dt.date(2026, 3, 8), "02:30")


def test_next_fire_from_between_the_twins_skips_the_second_one():
    fire = next_fire(["01:30"], EVERY_DAY, "America/New_York", utc(2026, 11, 1, 6))
    assert fire.at == utc(2026, 11, 2, 6, 30)


def test_schedules_alike_share_their_triggers_and_fires_and_zones_never_mix():
    """Triggers are built, and each fire found, once per (times, days, zone) and instant: the
    ten-thousandth person with 08:00 in Berlin reuses them; the same times in Tokyo, or the same
    Berlin schedule from a later instant, get their own."""
    cached_triggers.cache_clear()
    first_fire_from.cache_clear()
    after = utc(2026, 3, 1, 0, 0)
    berlin = [next_fire(["08:00", "21:30"], ["mon", "tue"], "Europe/Berlin", after) for _ in range(1000)]
    tokyo = next_fire(["08:00", "21:30"], ["mon", "tue"], "Asia/Tokyo", after)
    later = next_fire(["08:00", "21:30"], ["mon", "tue"], "Europe/Berlin", utc(2026, 3, 2, 7, 0))
    assert {fire.at for fire in berlin} == {utc(2026, 3, 2, 7, 0)}
    assert tokyo.at == utc(2026, 3, 1, 23, 0)
    assert later.at == utc(2026, 3, 2, 20, 30)
    assert cached_triggers.cache_info().misses == 2
    fires = first_fire_from.cache_info()
    # Berlin once, Tokyo once, and the later Berlin search twice (it passes the 08:00 fire at `after`).
    assert (fires.misses, fires.hits) == (4, 999)
