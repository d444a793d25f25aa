"""The client's view of Beds24's rolling five-minute credits, and the sync's cost model."""

from folio.registry.adapters.beds24 import CreditBudget
from folio.registry.service.beds24_sync import _CostModel


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_unknown_until_beds24_answers():
    budget = CreditBudget(Clock())
    assert budget.available() is None
    assert budget.seconds_until(50) == 0.0


def test_credits_come_back_five_minutes_after_each_spend_not_all_at_once():
    clock = Clock()
    budget = CreditBudget(clock)
    budget.observe(remaining=70, cost=30)  # t=0
    clock.now = 100
    budget.observe(remaining=10, cost=60)  # t=100
    assert budget.available() == 10
    assert budget.seconds_until(30) == 200  # the 30 spent at t=0 return at t=300
    assert budget.seconds_until(60) == 300  # ... the 60 spent at t=100 at t=400
    clock.now = 300
    assert budget.available() == 40
    clock.now = 400
    assert budget.available() == 100  # a whole window after the last answer
    assert budget.capacity == 100


def test_more_than_the_account_holds_waits_a_window_instead_of_spinning():
    clock = Clock()
    budget = CreditBudget(clock)
    budget.observe(remaining=99, cost=1)
    clock.now = 400
    assert budget.seconds_until(150) == 300


def test_cost_model_learns_from_the_largest_request():
    cost = _CostModel(None, None)
    assert cost.affordable(50) == 1  # unknown: one property to learn from
    cost.learn(1, 3)  # 1 credit for the request + 2 for one property (rounded up)
    assert (cost.per_property, cost.estimate(10)) == (2.0, 21)
    cost.learn(47, 67)
    assert round(cost.per_property, 3) == 1.404
    cost.learn(19, 40)  # a smaller request does not overrule the larger one
    assert round(cost.per_property, 3) == 1.404
    assert cost.affordable(100) == 70 and cost.estimate(70) == 100
    cost.surprised()
    assert cost.affordable(100) == 46  # 99 / (66 / 47 * 1.5)
