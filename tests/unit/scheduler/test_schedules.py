"""Schedule arithmetic (spec §7.2): every kind, daylight-saving gaps and overlaps, month ends, start windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise, takewhile
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_events import Cron, Daily, Monthly, OnDemand, OneTime, Schedule, Weekly
from connect_scheduler.domain.schedules import describe, missed_fires, next_fire, schedule_errors, start_delay

PARIS, NEW_YORK, SYDNEY = "Europe/Paris", "America/New_York", "Australia/Sydney"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def at(
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, fold: int = 0
) -> datetime:
    """An aware instant given by its wall time in `zone`."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone), fold=fold)


def midnight(zone: str, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))


def local(instant: datetime | None, zone: str) -> str:
    """`instant` as its wall time and zone abbreviation, e.g. "2026-03-29 03:00 CEST"."""
    assert instant is not None
    assert instant.tzinfo is UTC
    return instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def fires(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    found: list[datetime] = []
    for _ in range(count):
        fire = next_fire(schedule, found[-1] if found else after)
        assert fire is not None
        found.append(fire)
    return found


def daily(hour: int, minute: int, zone: str) -> Daily:
    return Daily(time=time(hour, minute), time_zone=zone)


class TestOnDemand:
    def test_never_fires_and_has_no_errors(self) -> None:
        assert next_fire(OnDemand(), NOW) is None
        assert missed_fires(OnDemand(), NOW, NOW + timedelta(days=365)) == 0
        assert schedule_errors(OnDemand(), NOW) == []
        assert start_delay(OnDemand(), "job-1@2026-01-01T00:00") == timedelta(0)
        assert describe(OnDemand()) == "on demand"


class TestOneTime:
    def test_fires_once_at_its_wall_time_in_the_zone(self) -> None:
        once = OneTime(at=datetime(2026, 5, 1, 6, 30), time_zone=PARIS)
        fire = next_fire(once, NOW)
        assert local(fire, PARIS) == "2026-05-01 06:30 CEST"
        assert fire is not None
        assert next_fire(once, fire) is None
        assert next_fire(once, fire - timedelta(microseconds=1)) == fire

    def test_an_offset_is_kept_as_the_instant_it_names(self) -> None:
        once = OneTime(at=datetime(2026, 5, 1, 6, 30, tzinfo=UTC), time_zone=PARIS)
        assert local(next_fire(once, NOW), PARIS) == "2026-05-01 08:30 CEST"

    def test_the_second_occurrence_given_with_its_offset_stays_the_second(self) -> None:
        second = at(NEW_YORK, 2026, 11, 1, 1, 30, fold=1)
        once = OneTime(at=second, time_zone=NEW_YORK)
        assert local(next_fire(once, NOW), NEW_YORK) == "2026-11-01 01:30 EST"

    def test_in_a_gap_fires_when_the_gap_ends(self) -> None:
        once = OneTime(at=datetime(2026, 3, 29, 2, 30), time_zone=PARIS)
        assert local(next_fire(once, NOW), PARIS) == "2026-03-29 03:00 CEST"

    def test_in_an_overlap_fires_at_the_first_occurrence(self) -> None:
        once = OneTime(at=datetime(2026, 11, 1, 1, 30), time_zone=NEW_YORK)
        assert local(next_fire(once, NOW), NEW_YORK) == "2026-11-01 01:30 EDT"
        assert missed_fires(once, NOW, NOW + timedelta(days=365)) == 1

    def test_in_the_past_is_an_error_and_never_fires(self) -> None:
        once = OneTime(at=datetime(2025, 12, 31, 23, 59), time_zone="UTC")
        assert [e.field for e in schedule_errors(once, NOW)] == ["schedule.at"]
        assert next_fire(once, NOW) is None

    def test_at_now_is_already_past(self) -> None:
        once = OneTime(at=datetime(2026, 1, 1, 1, 0), time_zone=PARIS)
        assert [e.field for e in schedule_errors(once, NOW)] == ["schedule.at"]
        assert schedule_errors(once, NOW - timedelta(minutes=1)) == []

    def test_seconds_are_an_error(self) -> None:
        once = OneTime(at=datetime(2026, 5, 1, 6, 30, 15), time_zone=PARIS)
        assert [e.field for e in schedule_errors(once, NOW)] == ["schedule.at"]


class TestDaily:
    def test_fires_every_day_at_the_wall_time(self) -> None:
        found = fires(daily(6, 30, PARIS), at(PARIS, 2026, 1, 10, 6, 30), 3)
        assert [local(f, PARIS) for f in found] == [
            "2026-01-11 06:30 CET",
            "2026-01-12 06:30 CET",
            "2026-01-13 06:30 CET",
        ]

    def test_later_the_same_day_when_the_time_is_still_ahead(self) -> None:
        assert local(next_fire(daily(6, 30, PARIS), at(PARIS, 2026, 1, 10, 6, 29, 59)), PARIS) == "2026-01-10 06:30 CET"

    @pytest.mark.parametrize(
        ("zone", "day", "hour", "minute", "expected"),
        [
            (PARIS, date(2026, 3, 29), 2, 30, "2026-03-29 03:00 CEST"),
            (PARIS, date(2026, 3, 29), 2, 0, "2026-03-29 03:00 CEST"),
            (NEW_YORK, date(2026, 3, 8), 2, 59, "2026-03-08 03:00 EDT"),
            (SYDNEY, date(2026, 10, 4), 2, 15, "2026-10-04 03:00 AEDT"),
            ("Australia/Lord_Howe", date(2026, 10, 4), 2, 10, "2026-10-04 02:30 +11"),
            ("America/Santiago", date(2026, 9, 6), 0, 30, "2026-09-06 01:00 -03"),
        ],
    )
    def test_a_time_in_a_gap_fires_at_the_first_minute_after_it(
        self, zone: str, day: date, hour: int, minute: int, expected: str
    ) -> None:
        schedule = daily(hour, minute, zone)
        the_day_before = midnight(zone, day) - timedelta(hours=12)
        gap_fire, after = fires(schedule, the_day_before, 2)
        assert local(gap_fire, zone) == expected
        assert local(after, zone).startswith(f"{day + timedelta(days=1)} {hour:02}:{minute:02}")

    def test_a_skipped_calendar_day_fires_when_the_clock_resumes(self) -> None:
        # Samoa moved across the date line: 2011-12-30 never happened in Pacific/Apia.
        found = fires(daily(12, 0, "Pacific/Apia"), at("Pacific/Apia", 2011, 12, 29, 13), 2)
        assert [local(f, "Pacific/Apia") for f in found] == ["2011-12-31 00:00 +14", "2011-12-31 12:00 +14"]

    @pytest.mark.parametrize(
        ("zone", "day", "hour", "minute", "expected"),
        [
            (PARIS, date(2026, 10, 25), 2, 30, "2026-10-25 02:30 CEST"),
            (NEW_YORK, date(2026, 11, 1), 1, 0, "2026-11-01 01:00 EDT"),
            (SYDNEY, date(2026, 4, 5), 2, 45, "2026-04-05 02:45 AEDT"),
        ],
    )
    def test_a_time_that_occurs_twice_fires_once_at_the_first(
        self, zone: str, day: date, hour: int, minute: int, expected: str
    ) -> None:
        schedule = daily(hour, minute, zone)
        start, end = midnight(zone, day), midnight(zone, day + timedelta(days=1))
        assert local(next_fire(schedule, start), zone) == expected
        assert missed_fires(schedule, start, end) == 1

    def test_the_second_pass_of_an_overlap_does_not_fire_again(self) -> None:
        second_pass = at(NEW_YORK, 2026, 11, 1, 1, 5, fold=1)
        assert local(next_fire(daily(1, 30, NEW_YORK), second_pass), NEW_YORK) == "2026-11-02 01:30 EST"


class TestWeekly:
    def test_fires_on_the_chosen_days_across_a_year_boundary(self) -> None:
        weekly = Weekly(days=("wed", "mon"), time=time(9, 0), time_zone=NEW_YORK)
        found = fires(weekly, at(NEW_YORK, 2026, 12, 30, 9, 0), 3)
        assert [local(f, NEW_YORK) for f in found] == [
            "2027-01-04 09:00 EST",
            "2027-01-06 09:00 EST",
            "2027-01-11 09:00 EST",
        ]

    def test_new_years_day_itself(self) -> None:
        weekly = Weekly(days=("fri",), time=time(0, 0), time_zone=SYDNEY)
        assert local(next_fire(weekly, at(SYDNEY, 2026, 12, 31, 23, 59)), SYDNEY) == "2027-01-01 00:00 AEDT"

    def test_a_weekly_time_in_a_gap(self) -> None:
        weekly = Weekly(days=("sun",), time=time(2, 30), time_zone=NEW_YORK)
        found = fires(weekly, at(NEW_YORK, 2026, 3, 2), 2)
        assert [local(f, NEW_YORK) for f in found] == ["2026-03-08 03:00 EDT", "2026-03-15 02:30 EDT"]

    def test_a_draft_without_days_never_fires_rather_than_looping(self) -> None:
        weekly = Weekly(days=(), time=time(9, 0), time_zone=PARIS)
        assert next_fire(weekly, NOW) is None
        assert missed_fires(weekly, NOW, NOW + timedelta(days=30)) == 0


class TestMonthly:
    def test_a_day_past_the_months_end_runs_on_its_last_day(self) -> None:
        monthly = Monthly(day=31, time=time(6, 0), time_zone=PARIS)
        found = fires(monthly, at(PARIS, 2027, 1, 1), 5)
        assert [local(f, PARIS)[:10] for f in found] == [
            "2027-01-31",
            "2027-02-28",
            "2027-03-31",
            "2027-04-30",
            "2027-05-31",
        ]

    @pytest.mark.parametrize(
        ("day", "year", "expected"),
        [
            (29, 2028, "2028-02-29"),
            (30, 2028, "2028-02-29"),
            (31, 2028, "2028-02-29"),
            ("last", 2028, "2028-02-29"),
            (29, 2027, "2027-02-28"),
            ("last", 2027, "2027-02-28"),
            (28, 2028, "2028-02-28"),
        ],
    )
    def test_february_and_leap_days(self, day: int | str, year: int, expected: str) -> None:
        monthly = Monthly.model_validate({"day": day, "time": "12:00", "time_zone": NEW_YORK})
        assert local(next_fire(monthly, at(NEW_YORK, year, 2, 1)), NEW_YORK)[:10] == expected

    def test_last_runs_on_every_months_last_day(self) -> None:
        monthly = Monthly(day="last", time=time(23, 59), time_zone="UTC")
        found = fires(monthly, datetime(2028, 1, 31, 23, 59, tzinfo=UTC), 3)
        assert [f.date() for f in found] == [date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)]

    def test_a_day_still_ahead_this_month(self) -> None:
        monthly = Monthly(day=15, time=time(8, 0), time_zone=SYDNEY)
        assert local(next_fire(monthly, at(SYDNEY, 2026, 4, 15, 7, 59)), SYDNEY) == "2026-04-15 08:00 AEST"


class TestCron:
    def test_weekday_mornings_on_the_local_clock(self) -> None:
        cron = Cron(expression="30 6 * * 1-5", time_zone=PARIS)
        found = fires(cron, at(PARIS, 2026, 3, 27, 7), 3)
        assert [local(f, PARIS) for f in found] == [
            "2026-03-30 06:30 CEST",
            "2026-03-31 06:30 CEST",
            "2026-04-01 06:30 CEST",
        ]

    def test_minutes_in_a_gap_collapse_into_one_fire_at_its_end(self) -> None:
        cron = Cron(expression="*/15 * * * *", time_zone=NEW_YORK)
        found = fires(cron, at(NEW_YORK, 2026, 3, 8, 1, 40), 4)
        assert [local(f, NEW_YORK) for f in found] == [
            "2026-03-08 01:45 EST",
            "2026-03-08 03:00 EDT",
            "2026-03-08 03:15 EDT",
            "2026-03-08 03:30 EDT",
        ]

    def test_minutes_in_an_overlap_fire_once(self) -> None:
        cron = Cron(expression="*/20 * * * *", time_zone=NEW_YORK)
        found = fires(cron, at(NEW_YORK, 2026, 11, 1, 0, 50), 5)
        assert [local(f, NEW_YORK) for f in found] == [
            "2026-11-01 01:00 EDT",
            "2026-11-01 01:20 EDT",
            "2026-11-01 01:40 EDT",
            "2026-11-01 02:00 EST",
            "2026-11-01 02:20 EST",
        ]

    def test_a_fixed_time_in_the_paris_gap_and_overlap(self) -> None:
        cron = Cron(expression="30 2 * * 0", time_zone=PARIS)
        assert local(next_fire(cron, at(PARIS, 2026, 3, 28)), PARIS) == "2026-03-29 03:00 CEST"
        assert local(next_fire(cron, at(PARIS, 2026, 10, 24)), PARIS) == "2026-10-25 02:30 CEST"
        assert missed_fires(cron, at(PARIS, 2026, 10, 25), at(PARIS, 2026, 10, 26)) == 1

    def test_a_leap_day_cron(self) -> None:
        cron = Cron(expression="0 0 29 2 *", time_zone=SYDNEY)
        assert local(next_fire(cron, NOW), SYDNEY) == "2028-02-29 00:00 AEDT"


class TestMissedFires:
    def test_counts_fires_after_since_up_to_and_including_until(self) -> None:
        schedule = daily(6, 0, PARIS)
        assert missed_fires(schedule, at(PARIS, 2026, 1, 1, 6), at(PARIS, 2026, 1, 11, 6)) == 10
        assert missed_fires(schedule, at(PARIS, 2026, 1, 1, 6), at(PARIS, 2026, 1, 11, 5, 59)) == 9
        assert missed_fires(schedule, at(PARIS, 2026, 1, 1, 7), at(PARIS, 2026, 1, 1, 8)) == 0

    def test_a_long_downtime_counts_up_to_the_limit(self) -> None:
        every_minute = Cron(expression="* * * * *", time_zone=NEW_YORK)
        assert missed_fires(every_minute, NOW, NOW + timedelta(days=3650)) == 1000
        assert missed_fires(every_minute, NOW, NOW + timedelta(days=3650), limit=5) == 5
        assert missed_fires(every_minute, NOW, NOW + timedelta(minutes=90), limit=5000) == 90

    def test_a_spring_forward_day_loses_the_gap_minutes_and_a_fall_back_day_repeats_none(self) -> None:
        hourly = Cron(expression="0 * * * *", time_zone=PARIS)
        assert missed_fires(hourly, at(PARIS, 2026, 3, 29), at(PARIS, 2026, 3, 30)) == 23
        assert missed_fires(hourly, at(PARIS, 2026, 10, 25), at(PARIS, 2026, 10, 26)) == 24


class TestStartDelay:
    def test_without_a_window_there_is_no_delay(self) -> None:
        assert start_delay(daily(6, 0, PARIS), "job-7@2026-01-01T05:00Z") == timedelta(0)

    def test_the_same_key_gives_the_same_whole_minute_in_the_window(self) -> None:
        windowed = Daily(time=time(6, 0), time_zone=PARIS, start_window=True)
        keys = [f"job-{n}@2026-01-01T05:00Z" for n in range(300)]
        delays = [start_delay(windowed, key) for key in keys]
        assert delays == [start_delay(Weekly(days=("mon",), time=time(9), start_window=True), key) for key in keys]
        assert {d.total_seconds() % 60 for d in delays} == {0}
        assert {d // timedelta(minutes=1) for d in delays} == set(range(15))


class TestErrors:
    def test_every_problem_at_once_each_naming_its_field(self) -> None:
        weekly = Weekly(days=(), time=time(6, 0, 30), time_zone="Europe/Pariss")
        errors = schedule_errors(weekly, NOW, field="group.schedule")
        assert [e.field for e in errors] == ["group.schedule.time_zone", "group.schedule.time", "group.schedule.days"]
        assert all(e.message for e in errors)

    @pytest.mark.parametrize(
        ("schedule", "fields"),
        [
            (Weekly(days=("mon", "tue", "mon"), time=time(6), time_zone=PARIS), ["schedule.days"]),
            (Monthly(day=0, time=time(6), time_zone=PARIS), ["schedule.day"]),
            (Monthly(day=32, time=time(6), time_zone="localtime"), ["schedule.time_zone", "schedule.day"]),
            (Daily(time=time(6, tzinfo=UTC), time_zone=PARIS), ["schedule.time"]),
            (Daily(time=time(6), time_zone="../../etc/passwd"), ["schedule.time_zone"]),
            (OneTime(at=datetime(2020, 1, 1), time_zone="Nowhere/City"), ["schedule.time_zone"]),
            (Cron(expression="0 0 30 2 *", time_zone=""), ["schedule.time_zone", "schedule.expression"]),
        ],
    )
    def test_each_rule(self, schedule: Schedule, fields: list[str]) -> None:
        assert [e.field for e in schedule_errors(schedule, NOW)] == fields

    @pytest.mark.parametrize(
        "expression",
        ["", "* * * *", "0 * * * * *", "60 * * * *", "* 24 * * *", "a b c d e", "*/0 * * * *", "5-1 * * * *"],
    )
    def test_invalid_cron_expressions(self, expression: str) -> None:
        errors = schedule_errors(Cron(expression=expression, time_zone=PARIS), NOW)
        assert [e.field for e in errors] == ["schedule.expression"]

    @pytest.mark.parametrize(
        "expression", ["* * * * *", "0 6 * * mon-fri", "*/5 8-18 * * 1-5", "0 0 L * *", "0 0 29 2 *", "15 3 1,15 * *"]
    )
    def test_valid_cron_expressions(self, expression: str) -> None:
        assert schedule_errors(Cron(expression=expression, time_zone=PARIS), NOW) == []

    def test_valid_schedules_of_every_kind(self) -> None:
        for schedule in (
            daily(6, 30, SYDNEY),
            Weekly(days=("sun",), time=time(0), time_zone="UTC", start_window=True),
            Monthly(day="last", time=time(23, 59), time_zone=NEW_YORK),
            OneTime(at=datetime(2026, 1, 1, 1, 1), time_zone=PARIS),
        ):
            assert schedule_errors(schedule, NOW) == []


class TestDescribe:
    @pytest.mark.parametrize(
        ("schedule", "words"),
        [
            (daily(6, 30, PARIS), "daily at 06:30 (Europe/Paris)"),
            (
                Weekly(days=("fri", "mon"), time=time(9), time_zone=NEW_YORK, start_window=True),
                "weekly on mon, fri at 09:00 (America/New_York), starting within 15 minutes",
            ),
            (Monthly(day="last", time=time(23, 59), time_zone="UTC"), "monthly on the last day at 23:59 (UTC)"),
            (Monthly(day=31, time=time(1), time_zone="UTC"), "monthly on day 31 at 01:00 (UTC)"),
            (Cron(expression="30 6 * * 1-5", time_zone=SYDNEY), "cron 30 6 * * 1-5 (Australia/Sydney)"),
            (OneTime(at=datetime(2026, 5, 1, 6, 30), time_zone=PARIS), "once at 2026-05-01 06:30 (Europe/Paris)"),
        ],
    )
    def test_short_words(self, schedule: Schedule, words: str) -> None:
        assert describe(schedule) == words


ZONES = [PARIS, NEW_YORK, SYDNEY, "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata", "UTC"]
CRONS = ["*/7 * * * *", "30 2 * * *", "0 1-3 * * 0", "45 */2 * * 1-5", "0 0 L * *", "10 2 29 2 *", "0 0 * * *"]
instants = st.datetimes(datetime(2024, 1, 1), datetime(2031, 12, 31), timezones=st.just(UTC))
# Hours around midnight and the usual switch times are weighted, so gaps and overlaps come up often.
times = st.builds(time, st.sampled_from([0, 1, 2, 3, 23]) | st.integers(0, 23), st.integers(0, 59))
zones = st.sampled_from(ZONES)
dailies = st.builds(Daily, time=times, time_zone=zones)
schedules = st.one_of(
    dailies,
    st.builds(
        Weekly,
        days=st.sets(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1).map(tuple),
        time=times,
        time_zone=zones,
    ),
    st.builds(Monthly, day=st.integers(1, 31) | st.just("last"), time=times, time_zone=zones),
    st.builds(Cron, expression=st.sampled_from(CRONS), time_zone=zones),
)


def wall_exists(wall: datetime, zone: ZoneInfo) -> bool:
    return wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


@settings(max_examples=300, deadline=None)
@given(schedule=schedules, after=instants, share=st.integers(0, 2**32 - 1))
def test_the_next_fire_is_later_whole_and_nothing_fires_before_it(
    schedule: Schedule, after: datetime, share: int
) -> None:
    fire = next_fire(schedule, after)
    assert fire is not None
    assert fire > after
    assert fire.tzinfo is UTC
    assert (fire.second, fire.microsecond) == (0, 0)
    assert next_fire(schedule, fire - timedelta(microseconds=1)) == fire
    between = after + timedelta(microseconds=(fire - after) // timedelta(microseconds=1) * share // 2**32)
    assert next_fire(schedule, between) == fire


@settings(max_examples=100, deadline=None)
@given(schedule=schedules, after=instants)
def test_consecutive_fires_strictly_increase(schedule: Schedule, after: datetime) -> None:
    found = fires(schedule, after, 12)
    assert all(one < two for one, two in pairwise(found))
    assert missed_fires(schedule, after, found[-1]) == 12


@settings(max_examples=300, deadline=None)
@given(schedule=dailies, after=instants)
def test_a_daily_fire_is_at_its_wall_time_unless_that_time_is_in_a_gap(schedule: Daily, after: datetime) -> None:
    zone = ZoneInfo(schedule.time_zone)
    fired = next_fire(schedule, after)
    assert fired is not None
    wall = fired.astimezone(zone).replace(tzinfo=None)
    scheduled = datetime.combine(wall.date(), schedule.time)
    if wall_exists(scheduled, zone):
        assert wall == scheduled
    else:
        assert wall > scheduled
        assert wall_exists(wall, zone)
        assert not wall_exists(wall - timedelta(minutes=1), zone)


FALL_BACK_DAYS = [
    (PARIS, date(2026, 10, 25)),
    (PARIS, date(2027, 10, 31)),
    (NEW_YORK, date(2026, 11, 1)),
    (NEW_YORK, date(2029, 11, 4)),
    (SYDNEY, date(2026, 4, 5)),
    ("Australia/Lord_Howe", date(2027, 4, 4)),
]


@settings(max_examples=200, deadline=None)
@given(place=st.sampled_from(FALL_BACK_DAYS), wall_time=times)
def test_a_fall_back_day_yields_exactly_one_daily_fire(place: tuple[str, date], wall_time: time) -> None:
    zone, day = place
    start, end = midnight(zone, day), midnight(zone, day + timedelta(days=1))
    schedule = Daily(time=wall_time, time_zone=zone)
    assert missed_fires(schedule, start - timedelta(microseconds=1), end - timedelta(microseconds=1)) == 1


SWITCH_DAYS = [
    *FALL_BACK_DAYS,
    (PARIS, date(2026, 3, 29)),
    (NEW_YORK, date(2026, 3, 8)),
    (SYDNEY, date(2026, 10, 4)),
    ("Australia/Lord_Howe", date(2026, 10, 4)),
    ("America/Santiago", date(2026, 9, 6)),
    ("America/Santiago", date(2026, 4, 4)),
]


def scanned_daily_fires(schedule: Daily, start: datetime, end: datetime) -> list[datetime]:
    """The rule read another way, minute by minute: a daily schedule fires at the first minute whose wall
    clock reaches the day's time, and never again for a wall time the clock had already reached."""
    zone = ZoneInfo(schedule.time_zone)
    found: list[datetime] = []
    reached, minute = start.astimezone(zone).replace(tzinfo=None), start
    while minute < end:
        minute += timedelta(minutes=1)
        wall = minute.astimezone(zone).replace(tzinfo=None)
        if any(reached < datetime.combine(day, schedule.time) <= wall for day in {reached.date(), wall.date()}):
            found.append(minute)
        reached = max(reached, wall)
    return found


@settings(max_examples=60, deadline=None)
@given(place=st.sampled_from(SWITCH_DAYS), wall_time=times)
def test_daily_fires_match_a_minute_by_minute_scan_around_a_switch(place: tuple[str, date], wall_time: time) -> None:
    zone, day = place
    schedule = Daily(time=wall_time, time_zone=zone)
    start = midnight(zone, day - timedelta(days=1)).astimezone(UTC)
    end = start + timedelta(days=3)
    chained = list(takewhile(lambda fire: fire <= end, fires(schedule, start, 4)))
    assert chained == scanned_daily_fires(schedule, start, end)


@settings(max_examples=300, deadline=None)
@given(expression=st.text(alphabet="0123456789*/,-LW#? abcdefghijklmnopqrstuvwxyzMONTUESAT", max_size=30))
def test_any_cron_text_gets_errors_or_fires(expression: str) -> None:
    cron = Cron(expression=expression, time_zone=PARIS)
    if schedule_errors(cron, NOW) == []:
        assert next_fire(cron, NOW) is not None


SPACING_NOW = datetime(2025, 1, 15, tzinfo=UTC)  # the year ahead holds Paris's jumps and Lord Howe's


class TestStartWindowSpacing:
    """A start window needs fires at least 15 minutes apart, in real time: a cron that can fire more often (within
    an hour, across midnight, or where the clock jumps) has its start window refused."""

    @pytest.mark.parametrize(
        ("expression", "zone"),
        [
            ("*/5 * * * *", "UTC"),
            ("* * * * *", "UTC"),
            ("0,10 * * * *", "UTC"),
            ("0,14 9 * * 1", "UTC"),
            ("0,55 0,23 * * *", "UTC"),  # 23:55, then 00:00 the next day
            ("0,55 0,23 31,1 * *", "UTC"),  # the 31st's 23:55, then the 1st's 00:00
            ("0,55 0,23 1 * 5L", "UTC"),  # the last Friday may be the day before the 1st
            ("0,55 1,3 * * *", "Europe/Paris"),  # 01:55, then 03:00 five minutes later on the spring jump
        ],
    )
    def test_fires_closer_than_a_window_refuse_it(self, expression: str, zone: str) -> None:
        [error] = schedule_errors(Cron(expression=expression, time_zone=zone, start_window=True), SPACING_NOW)
        assert error.field == "schedule.start_window"
        assert schedule_errors(Cron(expression=expression, time_zone=zone), SPACING_NOW) == []

    @pytest.mark.parametrize(
        ("expression", "zone"),
        [
            ("*/15 * * * *", "Europe/Paris"),
            ("0 * * * *", "UTC"),
            ("0,15 9 * * *", "America/New_York"),
            ("55 23 * * *", "UTC"),
            ("0,55 0,23 1 * *", "UTC"),  # the 1st never follows the 1st
            ("0,30 * * * *", "Australia/Lord_Howe"),  # half-hour jumps leave half an hour at least
            ("0 0 29 2 *", "UTC"),
        ],
    )
    def test_fires_a_window_apart_keep_it(self, expression: str, zone: str) -> None:
        assert schedule_errors(Cron(expression=expression, time_zone=zone, start_window=True), SPACING_NOW) == []

    def test_the_error_names_the_field_under_the_given_prefix(self) -> None:
        schedule = Cron(expression="*/5 * * * *", time_zone="UTC", start_window=True)
        [error] = schedule_errors(schedule, SPACING_NOW, "definition.schedule")
        assert error.field == "definition.schedule.start_window"
        assert "15 minutes apart" in error.message

    @pytest.mark.parametrize(
        "schedule",
        [
            Daily(time=time(2, 30), time_zone="Europe/Paris", start_window=True),
            Weekly(days=("mon", "tue"), time=time(23, 59), time_zone="UTC", start_window=True),
            Monthly(day="last", time=time(0, 0), time_zone="UTC", start_window=True),
        ],
    )
    def test_other_kinds_fire_at_most_daily_and_keep_it(self, schedule: Schedule) -> None:
        assert schedule_errors(schedule, SPACING_NOW) == []
