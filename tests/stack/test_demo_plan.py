"""The demo's plan is pure and seeded: the same portfolio on every run, with what the
README's tour points at (two time zones, every unit status, Beds24-controlled units,
paid, partial, refunded and overdue invoices)."""

from datetime import date

from folio.devstack.demo import plan_portfolio

TODAY = {"Asia/Riyadh": date(2026, 12, 4), "Asia/Dubai": date(2026, 12, 4)}


def test_the_plan_is_the_same_on_every_run():
    assert plan_portfolio(TODAY) == plan_portfolio(TODAY)


def test_the_plan_has_what_the_tour_shows():
    buildings = plan_portfolio(TODAY)
    units = [u for b in buildings for u in b.units]
    invoices = [i for u in units if u.lease for i in u.lease.invoices]
    assert len(buildings) == 3 and {b.timezone for b in buildings} == set(TODAY)
    assert {b.currency for b in buildings} == {"SAR", "AED"}
    assert len(units) == 60
    assert {u.status for u in units} == {"AVAILABLE", "BLOCKED", "MAINTENANCE"}
    assert sum(u.beds24_room is not None for u in units) == 8
    assert len({u.beds24_room for u in units if u.beds24_room}) == 8
    # a year of leases: invoices due on the 1st, from up to 11 months back to this month
    rents = [i for i in invoices if i.entry_type == "RENT"]
    assert min(i.due_date for i in rents) <= date(2026, 3, 1)
    assert max(i.due_date for i in rents) == date(2027, 1, 1)  # issued a month ahead
    ahead = [i for i in rents if i.due_date == date(2027, 1, 1)]
    assert ahead and all(i.payment is None for i in ahead)
    assert all(i.due_date.day == 1 for i in rents)
    past = [i for i in rents if i.due_date < date(2026, 12, 1)]
    assert all(i.due_date < u.lease.end_date for u in units if u.lease for i in u.lease.invoices)
    overdue = [i for i in past if i.payment is None]
    partial = [i for i in past if i.payment and i.payment.amount_minor < i.amount_minor]
    refunded = [i for i in rents if i.payment and i.payment.refund_minor]
    assert overdue and partial and refunded
    assert {i.payment.provider for i in rents if i.payment} == {"moyasar", "tabby", "tamara"}
    # Tamara dates a payment on receipt: only this month's invoices are paid through it
    assert all(i.due_date == date(2026, 12, 1) for i in rents
               if i.payment and i.payment.provider == "tamara")  # fmt: skip
    # no payment in the future, amounts exact integers
    assert all(i.payment.paid_on <= date(2026, 12, 4) for i in invoices if i.payment)
    assert all(isinstance(i.amount_minor, int) and i.amount_minor > 0 for i in invoices)
