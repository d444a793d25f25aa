"""One input policy for every service's request models and query parameters.

Every value a client sends is bounded before it reaches a use case or the database:

* integers are strict (no ``"100"``, ``10.0`` or ``true``) and inside their column's
  range, so PostgreSQL never answers "out of range" with a 500;
* text has a length cap and no NUL or other control character (PostgreSQL refuses NUL
  in text; free text may keep tab and line breaks);
* dates are ``YYYY-MM-DD`` strings of years 1-9999 (pydantic would also take ``0`` as
  1970-01-01), and a date a report is asked about (``as_of``, ``night``) lies in a
  window where the calendar arithmetic behind it (the next day, the month's end, the
  time zone's offset) cannot leave Python's calendar.

The limits are listed in the README ("Input limits").
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, BeforeValidator, Field, Strict, StringConstraints

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

#: Lengths per kind of text (characters).
MAX_NAME = 200
MAX_FREE_TEXT = 2000
MAX_FILTER = 200

#: Control characters nobody types into a name or an identifier (C0, DEL).
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
#: Free text may keep tab, line feed and carriage return.
_NO_CONTROL_FREE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def Int(ge: int, le: int) -> Any:
    """A strict integer in ``[ge, le]``."""
    return Annotated[int, Strict(), Field(ge=ge, le=le)]


def Text(max_length: int = MAX_NAME, min_length: int = 0) -> Any:
    """One-line text: no control character at all."""
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length, pattern=_NO_CONTROL),
    ]


def FreeText(max_length: int = MAX_FREE_TEXT) -> Any:
    """Multi-line text (a description, a reason): tab and line breaks allowed."""
    return Annotated[str, StringConstraints(max_length=max_length, pattern=_NO_CONTROL_FREE)]


_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _strict_date(value: Any) -> Any:
    """Only a ``YYYY-MM-DD`` string (years 1-9999)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise ValueError("a date must be a string YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("not a calendar date between 0001-01-01 and 9999-12-31") from None


#: A body date: ``YYYY-MM-DD`` only.
StrictDate = Annotated[date, BeforeValidator(_strict_date)]

#: The window of dates a report can be asked about: far enough for any real history
#: or plan, far enough from the calendar's ends for the arithmetic around a date.
REPORT_DATE_MIN = date(1900, 1, 1)
REPORT_DATE_MAX = date(2199, 12, 31)


def _in_report_window(value: date) -> date:
    if not REPORT_DATE_MIN <= value <= REPORT_DATE_MAX:
        raise ValueError(
            f"the date must be between {REPORT_DATE_MIN.isoformat()} "
            f"and {REPORT_DATE_MAX.isoformat()}"
        )
    return value


#: A body date that also lies in the report window (snapshot and sync ranges).
ReportDate = Annotated[date, BeforeValidator(_strict_date), AfterValidator(_in_report_window)]


def report_date_query(description: str) -> Any:
    """A query-string date inside the report window (422 outside it)."""
    return Annotated[
        date,
        BeforeValidator(_strict_date),
        AfterValidator(_in_report_window),
        Query(
            description=f"{description} Between {REPORT_DATE_MIN.isoformat()} and "
            f"{REPORT_DATE_MAX.isoformat()}."
        ),
    ]


#: A query-string text filter: 1-200 characters (an empty filter is a mistake, not
#: "no filter"), no control character.
FilterText = Annotated[str, Query(min_length=1, max_length=MAX_FILTER, pattern=_NO_CONTROL)]
