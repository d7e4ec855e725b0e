"""Expressions off the event loop: the inline slice, the worker process, its kill and memory limit."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from engine.expression_pool import Evaluator, ExpressionPool
from engine.expressions import ExpressionEvaluationError, ExpressionSyntaxError, evaluate

SCOPE = {"trigger": {"n": 3, "name": "Ada"}, "nodes": {}}


def test_a_huge_range_is_refused_before_it_is_built() -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionEvaluationError) as info:
        evaluate("$sum([1..10000000])", {})
    assert info.value.code == "expression_limit"
    assert "range of more than" in str(info.value)
    assert time.perf_counter() - started < 0.5  # refused, not computed (it took 12.9 s before)


def test_pad_width_and_eval_are_bounded() -> None:
    with pytest.raises(ExpressionEvaluationError, match=r"\$pad width"):
        evaluate('$pad("x", 1000000000)', {})
    assert evaluate('$pad("x", 3, "-")', {}) == "x--"
    # $eval parses through the bounded class, inside the same time box
    with pytest.raises(ExpressionEvaluationError, match="range of more than"):
        evaluate("$eval('$sum([1..10000000])')", {})
    assert evaluate("$eval('trigger.n * 2')", SCOPE) == 6


def test_regex_literals_run_on_re2() -> None:
    # a pattern that backtracks catastrophically in Python's re is linear in RE2
    text = "a" * 5000 + "!"
    started = time.perf_counter()
    assert evaluate("$contains(trigger.t, /^(a+)+$/)", {"trigger": {"t": text}}) is False
    assert time.perf_counter() - started < 1.0
    assert evaluate('$replace("aXb", /x/i, "-")', {}) == "a-b"
    with pytest.raises(ExpressionSyntaxError, match="RE2"):
        evaluate(r'"aa" ~> /(a)\1/', {})


async def test_fast_expressions_stay_inline_and_slow_ones_go_to_a_worker() -> None:
    pool = ExpressionPool(workers=1)
    evaluator = Evaluator(time_limit_ms=5000, pool=pool)
    try:
        assert await evaluator.evaluate("trigger.n + 1", SCOPE) == 4
        assert pool._busy == 0 and not pool._idle  # no worker was needed
        # ~10k-item work in one builtin step: more than the 5 ms slice, so it is re-run in a worker
        assert await evaluator.evaluate("$sum([1..10000].($ * 2))", SCOPE) == 100010000
        assert len(pool._idle) == 1
        assert await evaluator.render({"a": "{{ trigger.name }} #{{ trigger.n }}", "b": [1]}, SCOPE) == \
            {"a": "Ada #3", "b": [1]}
    finally:
        await pool.aclose()


async def test_an_expression_stuck_inside_a_builtin_is_killed_and_the_loop_stays_free() -> None:
    pool = ExpressionPool(workers=1, grace_s=0.0)
    evaluator = Evaluator(time_limit_ms=10, pool=pool, slice_ms=1)
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)

    await evaluator.evaluate("1", {})  # nothing started
    tick = asyncio.create_task(ticker())
    try:
        with pytest.raises(ExpressionEvaluationError) as info:
            await evaluator.evaluate("$distinct([1..10000])", {})
        assert info.value.code == "expression_limit"
        assert pool.kills == 1 or "longer than 10 ms" in str(info.value)
        # a replacement worker answers the next request
        assert await evaluator.evaluate("$sum([1..100])", {}) == 5050
    finally:
        stop.set()
        await tick
        await pool.aclose()
    # The loop was never blocked for the builtin's duration (the slice is 1 ms). Loose bound:
    # this is a correctness check on a shared CI machine, the latency figure lives in bench/.
    assert max(lags) < 0.5


async def test_a_worker_starved_of_cpu_is_not_killed_for_the_wait() -> None:
    # A loaded machine, made deterministic: the worker is stopped (SIGSTOP) for longer than the
    # limit while it holds a request. It used no CPU meanwhile, so it is not stuck: it answers.
    pool = ExpressionPool(workers=1, grace_s=0.0)
    evaluator = Evaluator(time_limit_ms=50, pool=pool, slice_ms=1)
    try:
        assert await evaluator.evaluate("$sum([1..10])", {}) == 55  # the worker is started and idle
        (worker,) = pool._idle
        os.kill(worker.process.pid, signal.SIGSTOP)
        asyncio.get_running_loop().call_later(0.4, os.kill, worker.process.pid, signal.SIGCONT)
        started = time.perf_counter()
        assert await evaluator.evaluate("$sum([1..100])", {}) == 5050
        assert time.perf_counter() - started >= 0.35  # it really waited for the stopped worker
        assert pool.kills == 0 and pool._idle == [worker]
    finally:
        await pool.aclose()


async def test_a_worker_that_allocates_too_much_gets_a_memory_error_not_the_service() -> None:
    pool = ExpressionPool(workers=1, memory_limit_mb=64)
    evaluator = Evaluator(time_limit_ms=20_000, pool=pool, slice_ms=1)
    try:
        with pytest.raises(ExpressionEvaluationError) as info:
            await evaluator.evaluate('$join([1..2000].$pad("", 999999, "x"))', {})
        assert info.value.code == "expression_limit"
        assert "memory" in str(info.value)
        assert await evaluator.evaluate("trigger.n", SCOPE) == 3
    finally:
        await pool.aclose()


async def test_worker_errors_keep_their_kind() -> None:
    pool = ExpressionPool(workers=1)
    evaluator = Evaluator(time_limit_ms=5000, pool=pool, slice_ms=0.001)
    try:
        with pytest.raises(ExpressionEvaluationError) as info:
            await pool.evaluate("$undefinedFunction(1)", {})
        assert info.value.code == "expression_error"
        with pytest.raises(ExpressionSyntaxError):
            await pool.evaluate("1 +", {})
        assert await evaluator.evaluate("$sum([1..100])", {}) == 5050
    finally:
        await pool.aclose()
