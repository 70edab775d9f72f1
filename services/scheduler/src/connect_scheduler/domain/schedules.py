"""Schedule arithmetic (spec §7.2): when a schedule fires, what is wrong with it, how to say it in words.

Wall-clock times are read in the schedule's IANA zone. A wall time that does not exist (the gap of a jump
forward) fires at the first valid minute after the gap; one that occurs twice (the overlap of a fall back)
fires once, at its first occurrence. Every kind, cron included, is evaluated on the local wall clock first
and then mapped to an instant with that one rule, so all kinds behave alike around daylight-saving changes.
Fire instants are aware UTC datetimes; everything here is pure and takes its clock as an argument.
"""

from __future__ import annotations

import calendar
import hashlib
from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as TimeOfDay
from functools import cache, lru_cache
from itertools import count, islice, pairwise, takewhile
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from cronsim import CronSim, CronSimError

from connect_events import Cron, Daily, FieldError, Monthly, OnDemand, OneTime, Schedule, Weekday, Weekly

START_WINDOW_MINUTES = 15
START_WINDOW = timedelta(minutes=START_WINDOW_MINUTES)
HORIZON_DAYS = 366  # how far ahead a cron's fires are checked for being a start window apart
_DAY_MINUTES = 24 * 60
CRON_FIELDS = 5
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTE = timedelta(minutes=1)


def schedule_errors(schedule: Schedule, now: datetime, field: str = "schedule") -> list[FieldError]:
    """Every problem of `schedule` at once, each naming its field under `field`; `now` is aware."""
    if isinstance(schedule, OnDemand):
        return []
    zone_ok = schedule.time_zone in _zone_keys()
    errors = [] if zone_ok else [FieldError(field=f"{field}.time_zone", message="not a known IANA time zone")]
    if isinstance(schedule, OneTime):
        return errors + _one_time_errors(schedule, now, field, zone_ok)
    if isinstance(schedule, Cron):
        if cron_errors := _cron_errors(schedule.expression, now, f"{field}.expression"):
            return errors + cron_errors
        return errors + (_window_errors(schedule, now, field) if zone_ok else [])
    errors += _time_errors(schedule.time, f"{field}.time")
    if isinstance(schedule, Weekly):
        errors += _days_errors(schedule.days, f"{field}.days")
    if isinstance(schedule, Monthly) and schedule.day != "last" and not 1 <= schedule.day <= 31:
        errors.append(FieldError(field=f"{field}.day", message='a day of the month from 1 to 31, or "last"'))
    return errors


# Many jobs share a schedule and fire at the same instants (every minute, daily at 02:00): the answers about
# a schedule and an instant are kept for the next job that asks. Schedules are frozen, hence usable as keys.
SHARED_ANSWERS = 4096


@lru_cache(maxsize=SHARED_ANSWERS)
def next_fire(schedule: Schedule, after: datetime) -> datetime | None:
    """The first fire strictly after the aware `after` (aware UTC), or None when none comes.

    Assumes a schedule without errors.
    """
    return next(_fires(schedule, after), None)


@lru_cache(maxsize=SHARED_ANSWERS)
def missed_fires(schedule: Schedule, since: datetime, until: datetime, limit: int = 1000) -> int:
    """How many fires fall in (`since`, `until`], counting at most `limit` so long downtime stays cheap."""
    due = takewhile(lambda fire: fire <= until, _fires(schedule, since))
    return sum(1 for _ in islice(due, max(limit, 0)))


def start_delay(schedule: Schedule, fire_key: str) -> timedelta:
    """The start-window delay of one fire: whole minutes in [0, 14] derived from `fire_key`, so every
    scheduler instance picks the same minute; zero without a start window."""
    if isinstance(schedule, OnDemand) or not schedule.start_window:
        return timedelta(0)
    digest = hashlib.sha256(fire_key.encode()).digest()
    return timedelta(minutes=int.from_bytes(digest[:8], "big") % START_WINDOW_MINUTES)


def describe(schedule: Schedule) -> str:
    """Short human words for `schedule`, e.g. "daily at 06:30 (Europe/Paris)"."""
    if isinstance(schedule, OnDemand):
        return "on demand"
    window = f", starting within {START_WINDOW_MINUTES} minutes" if schedule.start_window else ""
    return f"{_what(schedule)} ({schedule.time_zone}){window}"


def _what(schedule: OneTime | Daily | Weekly | Monthly | Cron) -> str:
    if isinstance(schedule, OneTime):
        return f"once at {schedule.at.isoformat(sep=' ', timespec='minutes')}"
    if isinstance(schedule, Cron):
        return f"cron {schedule.expression}"
    at = f"at {schedule.time:%H:%M}"
    if isinstance(schedule, Daily):
        return f"daily {at}"
    if isinstance(schedule, Weekly):
        days = ", ".join(day for day in WEEKDAYS if day in schedule.days)
        return f"weekly on {days} {at}"
    day = "the last day" if schedule.day == "last" else f"day {schedule.day}"
    return f"monthly on {day} {at}"


def _fires(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """Fire instants strictly after `after`, strictly increasing.

    Several wall times can map to one instant (all of a gap to its end), and when `after` lies in the
    second pass of an overlap, the wall times just after its own map to first occurrences before it: only
    instants past the last one given are kept.
    """
    if isinstance(schedule, OnDemand):
        return
    if isinstance(schedule, OneTime):
        if (instant := _one_time_instant(schedule)) > after:
            yield instant
        return
    zone = ZoneInfo(schedule.time_zone)
    last = after
    for wall in _walls(schedule, after.astimezone(zone).replace(tzinfo=None)):
        instant = _instant(wall, zone)
        if instant > last:
            yield instant
            last = instant


def _walls(schedule: Daily | Weekly | Monthly | Cron, start: datetime) -> Iterator[datetime]:
    """Naive local wall times of `schedule` strictly after the naive `start`, increasing."""
    if isinstance(schedule, Cron):
        # CronSim on a naive datetime walks the wall clock (no DST handling of its own: ours applies).
        return CronSim(schedule.expression, start)
    if isinstance(schedule, Monthly):
        walls = (datetime.combine(_monthly_date(month, schedule.day), schedule.time) for month in _months(start))
    else:
        walls = (datetime.combine(day, schedule.time) for day in _days(schedule, start.date()))
    return (wall for wall in walls if wall > start)


def _days(schedule: Daily | Weekly, first: date) -> Iterator[date]:
    """The days from `first` on that `schedule` runs."""
    wanted = {WEEKDAYS.index(day) for day in schedule.days} if isinstance(schedule, Weekly) else set(range(7))
    if not wanted:  # an (invalid) weekly schedule without days never fires rather than loops forever
        return iter(())
    days = (first + timedelta(days=offset) for offset in count())
    return (day for day in days if day.weekday() in wanted)


def _months(start: datetime) -> Iterator[tuple[int, int]]:
    """(year, month) from `start`'s month on."""
    for index in count(start.year * 12 + start.month - 1):
        year, month = divmod(index, 12)
        yield year, month + 1


def _monthly_date(month: tuple[int, int], day: int | Literal["last"]) -> date:
    """The day of `month` a monthly schedule runs: `day`, or the month's last day when it is shorter."""
    last = calendar.monthrange(*month)[1]
    return date(*month, last if day == "last" else min(day, last))


def _one_time_instant(schedule: OneTime) -> datetime:
    """A wall time is read in the zone; an `at` with an offset is already one instant and is kept as it is."""
    if schedule.at.tzinfo is not None:
        return schedule.at.astimezone(UTC)
    return _instant(schedule.at, ZoneInfo(schedule.time_zone))


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a naive wall time fires at: its first occurrence, or the end of the gap it falls in."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # fold=0 is the earlier of two occurrences
    if _wall(instant, zone) == wall:
        return instant
    return _gap_end(wall, zone)


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first whole minute (UTC) whose wall time is at or after `wall`, a time inside a gap.

    Read with the offsets before and after the jump, `wall` gives two instants that bracket the jump.
    """
    one, other = (wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    low = min(one, other)
    minutes = range(int((max(one, other) - low) / _MINUTE) + 1)
    return low + bisect_left(minutes, True, key=lambda m: _wall(low + m * _MINUTE, zone) >= wall) * _MINUTE


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


@cache
def _zone_keys() -> frozenset[str]:
    """Known IANA zones; "localtime" names the machine's zone, not an IANA one."""
    return frozenset(available_timezones() - {"localtime"})


def _one_time_errors(schedule: OneTime, now: datetime, field: str, zone_ok: bool) -> list[FieldError]:
    at = schedule.at
    if at.second or at.microsecond:
        return [FieldError(field=f"{field}.at", message="a date-time in whole minutes (no seconds)")]
    if zone_ok and _one_time_instant(schedule) <= now:
        return [FieldError(field=f"{field}.at", message="a one-time schedule must be in the future")]
    return []


def _time_errors(time: TimeOfDay, field: str) -> list[FieldError]:
    if time.tzinfo is not None:
        return [FieldError(field=field, message="a wall-clock time without an offset (read in time_zone)")]
    if time.second or time.microsecond:
        return [FieldError(field=field, message="a time of day in whole minutes (no seconds)")]
    return []


def _days_errors(days: tuple[Weekday, ...], field: str) -> list[FieldError]:
    if not days:
        return [FieldError(field=field, message="choose at least one weekday")]
    if len(set(days)) != len(days):
        return [FieldError(field=field, message="each weekday at most once")]
    return []


def _window_errors(schedule: Cron, now: datetime, field: str) -> list[FieldError]:
    """A start window needs fires at least a window apart: otherwise a fire delayed within its window could start
    after the next one, and the runs of one job would overlap or be skipped at random. Only a cron schedule can
    fire that often; the others fire at most once a day."""
    if not schedule.start_window or _fires_apart(schedule, now) >= START_WINDOW:
        return []
    message = (
        f"a start window needs fires at least {START_WINDOW_MINUTES} minutes apart; this schedule fires more often"
    )
    return [FieldError(field=f"{field}.start_window", message=message)]


def _fires_apart(schedule: Cron, now: datetime) -> timedelta:
    """The shortest time between two consecutive fires of a valid cron `schedule` within a year from `now`.

    A cron's times of day are the same on every day it matches, so their wall-clock spacing is read off its
    minute and hour fields. Real time shrinks it only across midnight (to the next day's first fire) and where
    the clock jumps: the year is walked by matching day, with every fire only on days next to a jump.
    """
    # The parsed fields of cronsim, and its day rule (day of month or weekday, `L`, `W`, `#`), read day by day.
    probe = CronSim(schedule.expression, now.replace(tzinfo=None))
    times = sorted(TimeOfDay(hour, minute) for hour in probe.hours for minute in probe.minutes)
    spacing = min((_minutes(b) - _minutes(a) for a, b in pairwise(times)), default=_DAY_MINUTES)
    shortest = timedelta(minutes=spacing)
    if shortest < START_WINDOW:
        return shortest
    zone = ZoneInfo(schedule.time_zone)
    first = now.astimezone(zone).date()
    # The offset at each midnight from the day before the first to the day after the day after the last.
    offsets = [
        zone.utcoffset(datetime.combine(first + timedelta(days=d), TimeOfDay())) for d in range(-1, HORIZON_DAYS + 2)
    ]
    last: datetime | None = None
    for offset in range(HORIZON_DAYS):
        day = first + timedelta(days=offset)
        if day.month not in probe.months or not probe.match_day(day):
            continue
        # The clock jumps on this day or next to it (a jump at midnight belongs to both): every fire counts.
        walls = times if len(set(offsets[offset : offset + 4])) > 1 else [times[0], times[-1]]
        for wall in walls:
            instant = _instant(datetime.combine(day, wall), zone)
            if last is not None and instant > last:
                shortest = min(shortest, instant - last)
            last = instant if last is None else max(last, instant)
    return shortest


def _minutes(wall: TimeOfDay) -> int:
    return wall.hour * 60 + wall.minute


def _cron_errors(expression: str, now: datetime, field: str) -> list[FieldError]:
    if len(expression.split()) != CRON_FIELDS:
        return [FieldError(field=field, message="a cron expression has 5 fields: minute hour day month weekday")]
    try:
        fires = CronSim(expression, now.replace(tzinfo=None))
    except CronSimError:
        return [FieldError(field=field, message="not a valid 5-field cron expression")]
    if next(fires, None) is None:
        return [FieldError(field=field, message="this cron expression never fires")]
    return []
