"""The shared input policy: strict bounded integers, text without control characters,
``YYYY-MM-DD`` dates, and the report window."""

from datetime import date

import pytest
from pydantic import BaseModel, ValidationError

from folio.shared.inputs import (
    REPORT_DATE_MAX,
    REPORT_DATE_MIN,
    FreeText,
    Int,
    ReportDate,
    StrictDate,
    Text,
)


class Sample(BaseModel):
    count: Int(0, 10) = 0
    name: Text(5, min_length=1) = "x"
    note: FreeText(20) = ""
    day: StrictDate | None = None
    night: ReportDate | None = None


@pytest.mark.parametrize("value", ["3", 3.0, True, -1, 11, 2**63], ids=repr)
def test_integers_are_strict_and_bounded(value):
    with pytest.raises(ValidationError):
        Sample(count=value)


def test_integer_bounds_are_inclusive():
    assert Sample(count=0).count == 0 and Sample(count=10).count == 10


@pytest.mark.parametrize(
    "value", ["", "abcdef", "a\x00", "a\tb", "a\nb", "a\x7f", "\x1b"], ids=repr
)
def test_one_line_text_refuses_control_characters_and_length(value):
    with pytest.raises(ValidationError):
        Sample(name=value)


def test_free_text_keeps_tab_and_line_breaks_only():
    assert Sample(note="a\tb\r\nc").note == "a\tb\r\nc"
    for bad in ("a\x00", "a\x0b", "a\x1f", "a\x7f", "x" * 21):
        with pytest.raises(ValidationError):
            Sample(note=bad)


@pytest.mark.parametrize(
    "value", [0, 1700000000, "0", "2026-01-01T00:00:00", "2026-1-1", "2026-02-30"]
)
def test_dates_are_calendar_date_strings(value):
    with pytest.raises(ValidationError):
        Sample(day=value)


def test_dates_cover_years_1_to_9999():
    assert Sample(day="0001-01-01").day == date(1, 1, 1)
    assert Sample(day="9999-12-31").day == date(9999, 12, 31)


def test_report_dates_stay_in_the_window():
    assert Sample(night=REPORT_DATE_MIN.isoformat()).night == REPORT_DATE_MIN
    assert Sample(night=REPORT_DATE_MAX.isoformat()).night == REPORT_DATE_MAX
    for outside in ("1899-12-31", "2200-01-01", "9999-12-31"):
        with pytest.raises(ValidationError):
            Sample(night=outside)
