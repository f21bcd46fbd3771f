"""Send windows (quiet hours) in the recipient's local time, and recurring schedules.

A window is a daily span of local minutes on some weekdays: 09:00–20:00 Monday to Saturday is
`SendWindow(540, 1200, frozenset({0, 1, 2, 3, 4, 5}))`. A span whose end is before its start runs
past midnight (20:00–02:00), and belongs to the day it starts on. A number can sit in several
zones (a Russian mobile has 16): the window must be open in every one of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class ScheduleError(ValueError):
    pass


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


@dataclass(frozen=True)
class SendWindow:
    start_minute: int  # minutes after local midnight
    end_minute: int
    days: frozenset[int]  # 0 = Monday

    def __post_init__(self):
        if not (0 <= self.start_minute < 1440 and 0 <= self.end_minute <= 1440):
            raise ScheduleError("window times must be within the day")
        if self.start_minute == self.end_minute:
            raise ScheduleError("the window opens and closes at the same time")
        if not self.days:
            raise ScheduleError("the window needs at least one day")

    @classmethod
    def from_columns(cls, start: int | None, end: int | None, days: str | None) -> "SendWindow | None":
        if start is None or end is None:
            return None
        return cls(start, end, frozenset(int(d) for d in (days or "0123456")))

    @property
    def days_column(self) -> str:
        return "".join(str(d) for d in sorted(self.days))

    def describe(self) -> str:
        span = f"{_hhmm(self.start_minute)}–{_hhmm(self.end_minute)}"
        if self.days == frozenset(range(7)):
            return f"{span} every day"
        return f"{span} on {', '.join(DAY_NAMES[d] for d in sorted(self.days))}"

    def _spans(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The window that opens on `day`, as aware datetimes (the end may be the next day)."""
        opens = datetime.combine(day, time()) + timedelta(minutes=self.start_minute)
        end_day_offset = self.end_minute if self.end_minute > self.start_minute else self.end_minute + 1440
        closes = datetime.combine(day, time()) + timedelta(minutes=end_day_offset)
        return opens.replace(tzinfo=tz), closes.replace(tzinfo=tz)

    def is_open_in(self, moment: datetime, tz: ZoneInfo) -> bool:
        local = moment.astimezone(tz)
        for day in (local.date() - timedelta(days=1), local.date()):
            if day.weekday() in self.days:
                opens, closes = self._spans(day, tz)
                if opens <= moment < closes:
                    return True
        return False

    def next_open_in(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """`moment` if open, otherwise the next opening in this zone (UTC)."""
        if self.is_open_in(moment, tz):
            return moment
        local_day = moment.astimezone(tz).date()
        for offset in range(0, 8):
            day = local_day + timedelta(days=offset)
            if day.weekday() in self.days:
                opens, _ = self._spans(day, tz)
                if opens > moment:
                    return opens.astimezone(timezone.utc)
        raise ScheduleError("no opening within a week")  # unreachable: days is never empty

    def next_open(self, moment: datetime, zones: tuple[str, ...]) -> datetime:
        """The first instant at or after `moment` at which the window is open in all `zones`."""
        zoneinfos = [zone(z) for z in zones] or [ZoneInfo("UTC")]
        candidate = moment
        for _ in range(64):
            moved = False
            for tz in zoneinfos:
                opening = self.next_open_in(candidate, tz)
                if opening != candidate:
                    candidate, moved = opening, True
            if not moved:
                return candidate
        # Zones so far apart that no instant is open in all (e.g. a 2-hour window across 16 zones):
        # the first zone's opening is the best the rule can do, and the message says so.
        return self.next_open_in(moment, zoneinfos[0])

    def wait(self, now: datetime, zones: tuple[str, ...], fallback_zone: str) -> tuple[datetime, str] | None:
        """None when a message to a recipient in `zones` (none known: `fallback_zone`, the
        campaign's) may go now; else when it may, and the reason it waits, as launch and the
        sender's claim both write it on the message."""
        zones = zones or (fallback_zone,)
        opens = self.next_open(now, zones)
        if opens <= now:
            return None
        return opens, (f"quiet hours ({self.describe()}, {' / '.join(zones)}): "
                       f"waits until {opens:%Y-%m-%d %H:%M} UTC")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def parse_hhmm(text: str) -> int:
    try:
        hours, minutes = text.strip().split(":")
        value = int(hours) * 60 + int(minutes)
    except ValueError:
        raise ScheduleError(f"{text!r} is not a time like 09:00") from None
    if not (0 <= int(hours) <= 24 and 0 <= int(minutes) < 60 and value <= 1440):
        raise ScheduleError(f"{text!r} is not a time of day")
    return value


# ----------------------------------------------------------------------------- recurrence

def recurrence_trigger(expression: str, tz_name: str) -> CronTrigger:
    """A crontab expression ("0 10 * * mon") read in a named zone; APScheduler does the DST maths."""
    try:
        return CronTrigger.from_crontab(expression.strip(), timezone=zone(tz_name))
    except ValueError as exc:
        raise ScheduleError(f"not a valid schedule {expression!r}: {exc}") from None


def next_fire(expression: str, tz_name: str, after: datetime) -> datetime | None:
    """The first fire time strictly after `after`, in UTC."""
    trigger = recurrence_trigger(expression, tz_name)
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    return fire.astimezone(timezone.utc) if fire else None


def fire_times(expression: str, tz_name: str, after: datetime, count: int) -> list[datetime]:
    times, moment = [], after
    for _ in range(count):
        fire = next_fire(expression, tz_name, moment)
        if fire is None:
            break
        times.append(fire)
        moment = fire
    return times


def local_to_utc(naive_local: datetime, tz_name: str) -> datetime:
    """A wall-clock time someone typed, in their zone, as UTC."""
    return naive_local.replace(tzinfo=zone(tz_name)).astimezone(timezone.utc)
