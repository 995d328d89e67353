"""The smoke checklist: PASS/FAIL/SKIP per step, blocking after a required failure, timing."""

from __future__ import annotations

import asyncio

from polyexec.smoke.checklist import Checklist, Outcome


async def _ok() -> tuple[int, str]:
    return 42, "fine"


async def _boom() -> tuple[int, str]:
    raise RuntimeError("post_order: 400 invalid post-only order:\n order crosses book")


async def _slow() -> tuple[int, str]:
    await asyncio.sleep(10)
    return 0, ""


async def test_passing_steps_return_their_values_and_pass() -> None:
    checklist = Checklist("test")
    assert await checklist.run("one", _ok) == 42
    assert await checklist.run("two", _ok) == 42
    assert checklist.passed
    assert [r.outcome for r in checklist.results] == [Outcome.PASS, Outcome.PASS]
    assert "all 2 checks passed" in checklist.render()


async def test_a_required_failure_skips_the_rest() -> None:
    checklist = Checklist("test")
    assert await checklist.run("auth", _boom) is None
    assert await checklist.run("order", _ok) is None
    assert not checklist.passed
    failed, skipped = checklist.results
    assert failed.outcome is Outcome.FAIL
    assert failed.detail == "post_order: 400 invalid post-only order: order crosses book"
    assert skipped.outcome is Outcome.SKIP
    assert skipped.detail == "needs: auth"
    assert "2 of 2 checks did not pass" in checklist.render()


async def test_an_optional_failure_does_not_block() -> None:
    checklist = Checklist("test")
    await checklist.run("rtds", _boom, required=False)
    assert await checklist.run("order", _ok) == 42
    assert not checklist.passed
    assert checklist.results[1].outcome is Outcome.PASS


async def test_a_step_that_hangs_fails_with_its_timeout() -> None:
    checklist = Checklist("test")
    assert await checklist.run("feed", _slow, timeout_s=0.05) is None
    assert checklist.results[0].detail == "timed out after 0.05 s"


async def test_fail_records_a_failure_found_outside_a_step() -> None:
    checklist = Checklist("test")
    await checklist.run("place", _ok)
    checklist.fail("cleanup", "order still open")
    assert not checklist.passed
    assert checklist.blocked_by == "cleanup"


def test_an_empty_checklist_has_not_passed() -> None:
    assert not Checklist("nothing").passed
