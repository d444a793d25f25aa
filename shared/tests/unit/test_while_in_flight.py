"""``while_in_flight``: CPU work runs while a statement is out, and neither result nor
error is lost."""

import asyncio

import pytest

from folio.shared.db import while_in_flight


async def test_the_work_runs_while_the_statement_is_out_and_both_results_come_back():
    steps: list[str] = []

    async def statement():
        steps.append("sent")
        await asyncio.sleep(0.01)
        steps.append("answered")
        return "rows"

    def work():
        steps.append("work")
        return 42

    assert await while_in_flight(statement(), work) == ("rows", 42)
    assert steps == ["sent", "work", "answered"]


async def test_a_failing_statement_raises_after_the_work():
    async def statement():
        await asyncio.sleep(0)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await while_in_flight(statement(), lambda: None)


async def test_failing_work_still_waits_for_the_statement():
    finished: list[bool] = []

    async def statement():
        await asyncio.sleep(0.01)
        finished.append(True)

    def work():
        raise RuntimeError("bad input")

    with pytest.raises(RuntimeError, match="bad input"):
        await while_in_flight(statement(), work)
    assert finished == [True]  # the connection is not left mid-statement


async def test_a_cancelled_caller_cancels_the_statement_too():
    started = asyncio.Event()
    outcome: list[str] = []

    async def statement():
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async def caller():
        await while_in_flight(statement(), lambda: None)

    task = asyncio.ensure_future(caller())
    await started.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1)
    assert task in done and task.cancelled()
    assert outcome == ["cancelled"]  # not left running on the connection


async def test_cancelled_before_the_statement_is_sent_leaves_nothing_behind():
    ran: list[str] = []

    async def statement():
        ran.append("ran")
        await asyncio.sleep(10)

    async def caller():
        await while_in_flight(statement(), lambda: None)

    task = asyncio.ensure_future(caller())
    await asyncio.sleep(0)  # the caller is now inside while_in_flight's first yield
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1)  # the statement went with it
    assert task in done and task.cancelled()
    assert ran == ["ran"]
