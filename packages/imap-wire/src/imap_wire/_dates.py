"""IMAP dates: ``date-time`` (INTERNALDATE, APPEND) and ``date`` (SEARCH), RFC 9051 section 9."""

from __future__ import annotations

import datetime as _dt
import re

from .errors import RemoteProtocolError

__all__ = ["format_date", "format_date_time", "parse_date", "parse_date_time"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {m.upper(): i for i, m in enumerate(_MONTHS, 1)}
# date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE;
# real servers also send a one-digit day without the padding space, so both are accepted.
_DATE_TIME = re.compile(
    r" ?([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-][0-9]{4})\Z"
)
_DATE = re.compile(r"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})\Z")
# Zones seen so far, by their text ("-0700"); bounded, since a peer chooses them.
_ZONES: dict[str, _dt.tzinfo] = {}


def _zone(text: str) -> _dt.tzinfo:
    tz = _ZONES.get(text)
    if tz is None:
        delta = _dt.timedelta(hours=int(text[1:3]), minutes=int(text[3:5]))
        tz = _dt.timezone(-delta if text[0] == "-" else delta)
        if len(_ZONES) < 256:
            _ZONES[text] = tz
    return tz


def parse_date_time(text: str | bytes) -> _dt.datetime:
    """Parse an IMAP ``date-time`` (without its quotes) into an aware `datetime`.

    Raises:
        RemoteProtocolError: The text is not a valid date-time.
    """
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    m = _DATE_TIME.match(text)
    if m is None:
        raise RemoteProtocolError("invalid date-time")
    day, mon, year, hh, mm, ss, zone = m.groups()
    month = _MONTH_NUMBER.get(mon.upper())
    if month is None:
        raise RemoteProtocolError("invalid date-time")
    try:
        return _dt.datetime(
            int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=_zone(zone)
        )
    except ValueError:
        raise RemoteProtocolError("invalid date-time") from None


def format_date_time(value: _dt.datetime) -> str:
    """Format an IMAP ``date-time`` (without quotes); a naive datetime is taken as UTC."""
    offset = value.utcoffset()
    total = int(offset.total_seconds()) // 60 if offset is not None else 0
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return (
        f"{value.day:2d}-{_MONTHS[value.month - 1]}-{value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d} "
        f"{sign}{total // 60:02d}{total % 60:02d}"
    )


def parse_date(text: str | bytes) -> _dt.date:
    """Parse an IMAP ``date`` (``1-Feb-1994``), as used by SEARCH.

    Raises:
        RemoteProtocolError: The text is not a valid date.
    """
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    m = _DATE.match(text)
    month = _MONTH_NUMBER.get(m.group(2).upper()) if m else None
    if m is None or month is None:
        raise RemoteProtocolError("invalid date")
    try:
        return _dt.date(int(m.group(3)), month, int(m.group(1)))
    except ValueError:
        raise RemoteProtocolError("invalid date") from None


def format_date(value: _dt.date) -> str:
    """Format an IMAP ``date`` (``1-Feb-1994``)."""
    return f"{value.day}-{_MONTHS[value.month - 1]}-{value.year:04d}"
