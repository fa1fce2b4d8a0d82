"""Compute instance start/stop schedules and idle shutdown, as api-version 2025-09-01 describes them.

What is modelled (docs/emulator.md says the same):

* ``idleTimeBeforeShutdown``: an ISO-8601 duration between 15 minutes and 3 days (the specification's
  description of the property: "Minimum is 15 min, maximum is 3 days"). Nobody works on an emulated
  instance, so it is idle from the moment it becomes Running: it stops that long afterwards.
* ``schedules.computeStartStop[]``: ``action`` Start or Stop, ``status`` Enabled or Disabled, and a
  ``Cron`` trigger (five NCrontab fields: minute hour day-of-month month day-of-week) or a
  ``Recurrence`` (frequency Minute/Hour/Day/Week/Month, interval, hours, minutes, weekDays, monthDays),
  in ``timeZone`` (an IANA name, UTC, or a Windows zone name Azure's tools send), from ``startTime``.
  Each stored schedule gets an ``id`` and ``provisioningStatus: Completed`` as the service reports them.
* On every clock move the latest firing since the last look decides: a Stop stops a Running instance, a
  Start starts a Stopped one; ``lastOperation.operationTrigger`` says Schedule or IdleShutdown.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ArmError, bad_request

IDLE_MIN_SECONDS = 15 * 60
IDLE_MAX_SECONDS = 3 * 24 * 3600
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FREQUENCIES = ("Minute", "Hour", "Day", "Week", "Month")
# Windows zone names (what azure-ai-ml's TimeZone enum and the studio send) → IANA, for the common ones.
WINDOWS_ZONES = {
    "utc": "UTC",
    "coordinated universal time": "UTC",
    "gmt standard time": "Europe/London",
    "w. europe standard time": "Europe/Berlin",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "romance standard time": "Europe/Paris",
    "eastern standard time": "America/New_York",
    "central standard time": "America/Chicago",
    "mountain standard time": "America/Denver",
    "pacific standard time": "America/Los_Angeles",
    "india standard time": "Asia/Kolkata",
    "china standard time": "Asia/Shanghai",
    "tokyo standard time": "Asia/Tokyo",
    "aus eastern standard time": "Australia/Sydney",
}
LOOKBACK = dt.timedelta(days=8)
"""How far back a clock jump is searched for firings: every trigger repeats within a week except monthly ones."""


def _invalid(path: str, message: str) -> ArmError:
    return bad_request("InvalidPropertyValue", message, target=path)


def duration_seconds(text: str) -> float | None:
    match = _DURATION.match(text or "")
    if not match or text in ("P", "PT") or text.endswith("T"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def zone(name: str | None) -> ZoneInfo:
    raw = (name or "UTC").strip()
    try:
        return ZoneInfo(WINDOWS_ZONES.get(raw.lower(), raw))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(raw) from None


# -- validation --------------------------------------------------------------------------------------------
def check_instance(inner: dict[str, Any]) -> None:
    """Refuse what the service refuses in a compute instance's newer properties, naming the property."""
    base = "properties.properties"
    idle = inner.get("idleTimeBeforeShutdown")
    if idle is not None:
        seconds = duration_seconds(idle) if isinstance(idle, str) else None
        if seconds is None:
            raise _invalid(f"{base}.idleTimeBeforeShutdown",
                           f"idleTimeBeforeShutdown must be an ISO-8601 duration such as PT30M, not {idle!r}.")
        if not IDLE_MIN_SECONDS <= seconds <= IDLE_MAX_SECONDS:
            raise _invalid(f"{base}.idleTimeBeforeShutdown",
                           f"idleTimeBeforeShutdown must be between 15 minutes and 3 days, not {idle}.")
    for key in ("enableSSO", "enableRootAccess"):
        if key in inner and inner[key] is not None and not isinstance(inner[key], bool):
            raise _invalid(f"{base}.{key}", f"{key} must be true or false, not {inner[key]!r}.")
    schedules = inner.get("schedules")
    if schedules is not None:
        if not isinstance(schedules, dict) or not isinstance(schedules.get("computeStartStop") or [], list):
            raise _invalid(f"{base}.schedules", "schedules must be an object with a computeStartStop list.")
        for index, item in enumerate(schedules.get("computeStartStop") or []):
            _check_schedule(item, f"{base}.schedules.computeStartStop[{index}]")
    scripts = ((inner.get("setupScripts") or {}).get("scripts") or {}) if isinstance(inner.get("setupScripts"), dict) \
        else None
    if inner.get("setupScripts") is not None and scripts is None:
        raise _invalid(f"{base}.setupScripts", "setupScripts must be an object with a scripts object.")
    for kind in ("creationScript", "startupScript"):
        script = (scripts or {}).get(kind)
        if script is None:
            continue
        path = f"{base}.setupScripts.scripts.{kind}"
        if not isinstance(script, dict) or script.get("scriptSource") not in ("inline", "workspace"):
            raise _invalid(f"{path}.scriptSource", "scriptSource must be inline or workspace.")
        if not isinstance(script.get("scriptData"), str) or not script["scriptData"]:
            raise _invalid(f"{path}.scriptData", "scriptData is required: the script (inline) or its path.")


def _check_schedule(item: Any, path: str) -> None:
    if not isinstance(item, dict):
        raise _invalid(path, "A schedule must be an object.")
    if item.get("action") not in ("Start", "Stop"):
        raise _invalid(f"{path}.action", f"action must be Start or Stop, not {item.get('action')!r}.")
    if item.get("status", "Enabled") not in ("Enabled", "Disabled"):
        raise _invalid(f"{path}.status", f"status must be Enabled or Disabled, not {item.get('status')!r}.")
    trigger = item.get("triggerType")
    if trigger == "Cron":
        cron = item.get("cron")
        if not isinstance(cron, dict) or not isinstance(cron.get("expression"), str):
            raise _invalid(f"{path}.cron.expression", "A Cron schedule needs cron.expression.")
        try:
            _cron_fields(cron["expression"])
        except ValueError as exc:
            raise _invalid(f"{path}.cron.expression", f"cron.expression {cron['expression']!r}: {exc}.") from None
        _check_zone(cron.get("timeZone"), f"{path}.cron.timeZone")
    elif trigger == "Recurrence":
        rec = item.get("recurrence")
        if not isinstance(rec, dict) or rec.get("frequency") not in FREQUENCIES:
            raise _invalid(f"{path}.recurrence.frequency",
                           f"recurrence.frequency must be one of {', '.join(FREQUENCIES)}.")
        interval = rec.get("interval", 1)
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise _invalid(f"{path}.recurrence.interval", "recurrence.interval must be a whole number of at least 1.")
        pattern = rec.get("schedule") or {}
        for key, low, high in (("hours", 0, 23), ("minutes", 0, 59), ("monthDays", 1, 31)):
            values = pattern.get(key)
            if values is not None and (not isinstance(values, list)
                                       or any(not isinstance(v, int) or not low <= v <= high for v in values)):
                raise _invalid(f"{path}.recurrence.schedule.{key}", f"{key} must be whole numbers {low}-{high}.")
        days = pattern.get("weekDays")
        if days is not None and (not isinstance(days, list) or any(d not in WEEK_DAYS for d in days)):
            raise _invalid(f"{path}.recurrence.schedule.weekDays", f"weekDays must be among {', '.join(WEEK_DAYS)}.")
        _check_zone(rec.get("timeZone"), f"{path}.recurrence.timeZone")
    else:
        raise _invalid(f"{path}.triggerType", f"triggerType must be Cron or Recurrence, not {trigger!r}.")


def _check_zone(name: Any, path: str) -> None:
    try:
        zone(name)
    except ValueError:
        raise _invalid(path, f"The time zone {name!r} is not known.") from None


def stored(inner: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
    """Give each schedule the id and provisioning status the service reports, keeping ids of unchanged ones."""
    schedules = inner.get("schedules")
    if not isinstance(schedules, dict):
        return
    old = {_identity(s): s.get("id") for s in ((previous or {}).get("schedules") or {}).get("computeStartStop") or []
           if isinstance(s, dict)}
    for item in schedules.get("computeStartStop") or []:
        item.setdefault("status", "Enabled")
        item["id"] = old.get(_identity(item)) or str(uuid.uuid4())
        item["provisioningStatus"] = "Completed"


def _identity(item: dict[str, Any]) -> str:
    return repr(sorted((k, repr(v)) for k, v in item.items() if k not in ("id", "provisioningStatus")))


# -- firing ------------------------------------------------------------------------------------------------
def _cron_part(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step < 1:
                raise ValueError("a step must be at least 1")
        if part == "*":
            start, end = low, high
        elif "-" in part:
            start, end = (int(x) for x in part.split("-", 1))
        else:
            start = end = int(part)
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise ValueError(f"{part} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def _cron_fields(expression: str) -> tuple[set[int], ...]:
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("five fields are needed: minute hour day-of-month month day-of-week")
    try:
        minute, hour, mday, month, wday = (
            _cron_part(fields[0], 0, 59), _cron_part(fields[1], 0, 23), _cron_part(fields[2], 1, 31),
            _cron_part(fields[3], 1, 12), _cron_part(fields[4].replace("7", "0"), 0, 6))
    except ValueError as exc:
        raise ValueError(str(exc) if "outside" in str(exc) or "step" in str(exc) else "not a number") from None
    return minute, hour, mday, month, wday


def _start_time(text: Any, tz: ZoneInfo) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _fires_at(item: dict[str, Any], local: dt.datetime, cron: tuple[set[int], ...] | None) -> bool:
    """Whether the schedule fires at this local minute (``cron``: its parsed expression, for Cron triggers)."""
    if cron is not None:
        minute, hour, mday, month, wday = cron
        cron_wday = (local.weekday() + 1) % 7  # cron: Sunday 0
        return (local.minute in minute and local.hour in hour and local.day in mday and local.month in month
                and cron_wday in wday)
    rec = item["recurrence"]
    pattern = rec.get("schedule") or {}
    interval = int(rec.get("interval") or 1)
    start = _start_time(rec.get("startTime"), local.tzinfo)  # type: ignore[arg-type]
    frequency = rec["frequency"]
    if frequency in ("Minute", "Hour"):
        unit = 60 if frequency == "Minute" else 3600
        origin = start or local.replace(hour=0, minute=0)
        elapsed = int((local - origin).total_seconds())
        return elapsed >= 0 and elapsed % (unit * interval) == 0
    hours = pattern.get("hours") or [0]
    minutes = pattern.get("minutes") or [0]
    if local.hour not in hours or local.minute not in minutes:
        return False
    if frequency == "Day":
        days = (local.date() - start.date()).days if start else 0
        return days >= 0 and days % interval == 0
    if frequency == "Week":
        week_days = pattern.get("weekDays") or list(WEEK_DAYS)
        weeks = (local.date() - start.date()).days // 7 if start else 0
        return WEEK_DAYS[local.weekday()] in week_days and weeks >= 0 and weeks % interval == 0
    return local.day in (pattern.get("monthDays") or [1])


def latest_firing(schedules: Any, since: float, until: float) -> tuple[float, str] | None:
    """The last (time, action) an enabled schedule fires in (since, until], minute by minute."""
    items = [s for s in ((schedules or {}).get("computeStartStop") or []) if isinstance(s, dict)
             and s.get("status", "Enabled") == "Enabled"]
    if not items or until <= since:
        return None
    end = dt.datetime.fromtimestamp(until, dt.UTC).replace(second=0, microsecond=0)
    begin = max(dt.datetime.fromtimestamp(since, dt.UTC), end - LOOKBACK)
    prepared = []  # parsed once: the scan below visits every minute of the window
    for item in items:
        is_cron = item.get("triggerType") == "Cron"
        trigger = (item.get("cron") if is_cron else item.get("recurrence")) or {}
        tz = zone(trigger.get("timeZone"))
        prepared.append((item, tz, _start_time(trigger.get("startTime"), tz),
                         _cron_fields(trigger["expression"]) if is_cron else None))
    moment = end
    while moment > begin:
        for item, tz, start, cron in prepared:
            local = moment.astimezone(tz)
            if (start is None or local >= start) and _fires_at(item, local, cron):
                return moment.timestamp(), str(item["action"])
        moment -= dt.timedelta(minutes=1)
    return None
