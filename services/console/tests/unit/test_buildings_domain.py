"""How the buildings pages and the unit card show the registry's figures (pure)."""

from datetime import UTC, date, datetime

import pytest

from folio.console.domain.buildings import (
    KPIS,
    InputError,
    collections_chart,
    is_overdue,
    kpi_cards,
    local_time,
    occupancy_segments,
    parse_day,
    snapshot_strip,
    today_in,
)


def test_the_seeds_eleven_kpis_in_the_buildings_currency_and_exponent():
    figures = {key: 0 for key, *_ in KPIS} | {
        "currency": "KWD", "occupancy_rate_percent": "57.14", "par_minor": 4_206_000,
        "adr_minor": None, "overdue_count": 1234,
    }  # fmt: skip
    cards = {c.key: c.value for c in kpi_cards(figures)}
    assert len(cards) == 11
    assert cards["par_minor"] == "4,206.000 KWD"  # fils: three decimals
    assert cards["occupancy_rate_percent"] == "57.14 %"
    assert cards["adr_minor"] == "—"  # a zero denominator is null, never 0
    assert cards["overdue_count"] == "1,234"
    assert kpi_cards(figures | {"currency": "SAR"})[2].value == "42,060.00 SAR"


def test_occupancy_segments_fill_the_bar_exactly():
    counts = {"OCCUPIED": 1, "VACANT": 1, "BLOCKED": 1, "MAINTENANCE": 0, "UNKNOWN": 0}
    segments = occupancy_segments(counts)
    assert [s.status for s in segments] == ["OCCUPIED", "VACANT", "BLOCKED", "MAINTENANCE",
                                            "UNKNOWN"]  # fmt: skip
    assert [(s.x, s.width) for s in segments] == [(0, 333), (333, 334), (667, 333),
                                                  (1000, 0), (1000, 0)]  # fmt: skip
    assert sum(s.width for s in occupancy_segments(dict.fromkeys(counts, 0))) == 0


def test_collections_chart_puts_refund_months_below_the_zero_line():
    months = [
        {"month": "2026-01-01", "collected_minor": 300_00},
        {"month": "2026-02-01", "collected_minor": -100_00},
        {"month": "2026-03-01", "collected_minor": 0},
    ]
    chart = collections_chart(months, "SAR")
    up, down, nothing = chart.bars
    assert up.y + up.height == chart.zero_y == down.y  # both start at the zero line
    assert up.height == 3 * down.height
    assert nothing.height == 0 and not nothing.negative and down.negative
    assert (up.label, up.value) == ("Jan 2026", "300.00 SAR")
    assert chart.bottom_label == "-100.00 SAR"
    flat = collections_chart([{"month": "2026-01-01", "collected_minor": 0}] * 12, "SAR")
    assert len(flat.bars) == 12 and all(b.height == 0 for b in flat.bars)


def test_dates_and_instants_in_the_buildings_timezone():
    assert local_time("2026-02-01T03:00:00Z", "America/Toronto") == "2026-01-31 22:00"
    assert local_time("2026-02-01T03:00:00+00:00", "Asia/Riyadh") == "2026-02-01 06:00"
    assert local_time(None, "Asia/Riyadh") == "—"
    assert today_in("Asia/Riyadh", datetime(2026, 1, 31, 21, 30, tzinfo=UTC)) == date(2026, 2, 1)
    assert parse_day("2026-02-28") == date(2026, 2, 28) and parse_day("") is None
    for bad in ("2026-02-30", "28/02/2026", "2026-2-1"):
        with pytest.raises(InputError):
            parse_day(bad)


def test_snapshot_strip_and_overdue():
    rows = [{"status_date": "2026-02-02", "status": "OCCUPIED"}]
    strip = snapshot_strip(rows, date(2026, 2, 1), date(2026, 2, 3))
    assert [(c.day.day, c.status) for c in strip] == [(1, "NONE"), (2, "OCCUPIED"), (3, "NONE")]
    today = date(2026, 2, 10)
    assert is_overdue({"status": "DUE", "due_date": "2026-02-09"}, today)
    assert not is_overdue({"status": "DUE", "due_date": "2026-02-10"}, today)
    assert not is_overdue({"status": "PENDING", "due_date": "2026-01-01"}, today)
    assert not is_overdue({"status": "DUE", "due_date": None}, today)
