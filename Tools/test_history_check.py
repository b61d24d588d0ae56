"""Tests of Tools/history-check.py over small hand-written histories.

Run: python3 -m unittest discover -s Tools -p 'test_*.py'

Many cases are the hand-made histories of statelab's own Swift tests
(CheckerTests, StreamingCheckTests, RestartCheckTests), with the figures
those tests expect; the rest pin one rule each.
"""

import importlib.util
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "history-check.py")
spec = importlib.util.spec_from_file_location("history_check", SCRIPT)
hc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hc)

A, B = 101, 202


class History:
    """One run's lines, written the way statelab writes them."""

    def __init__(self, run=0, name="test/run", step=1):
        self.run = run
        self.lines = [{"run": run, "type": "run", "name": name, "strategy": None, "mode": None,
                       "step": step, "origin_ns": 1_000_000}]
        self.index = 0
        self.process = 0

    def _op(self, **fields):
        line = {"run": self.run, "index": self.index}
        line.update(fields)
        self.index += 1
        self.lines.append(line)

    def add(self, outcome, start, end, count=None, pid=A, invoke=True):
        process = self.process
        self.process += 1
        if invoke:
            self._op(type="invoke", f="add", process=process, value=1, time=start)
        self._op(type=outcome, f="add", process=process, value=1, start=start, time=end, pid=pid, count=count)
        return self

    def ok(self, count, start, end, pid=A, **kw):
        return self.add("ok", start, end, count=count, pid=pid, **kw)

    def info(self, start, end, pid=None):
        return self.add("info", start, end, pid=pid)

    def fail(self, start, end, pid=None):
        return self.add("fail", start, end, pid=pid)

    def read(self, value, start, end, pid=A, final=True, worker=0):
        process = f"read-{pid}"
        self._op(type="invoke", f="read", process=process, pid=pid, time=start)
        self._op(type="ok", f="read", process=process, pid=pid, worker=worker, value=value, final=final,
                 start=start, time=end)
        return self

    def reset(self, start, end, outcome="ok", pid=None, answer_pid="same", worker=None):
        """A POST /reset; end None: it never got a completion line."""
        self._op(type="invoke", f="reset", process="reset", pid=pid, worker=worker, time=start)
        if end is not None:
            self._op(type=outcome, f="reset", process="reset", pid=pid if answer_pid == "same" else answer_pid,
                     worker=worker, start=start, time=end)
        return self

    def restart(self, start, end, before, after, exact=True, scope="store"):
        self._op(type="invoke", f="restart", process="nemesis",
                 value={"scope": scope, "before": before, "exact": exact and before is not None}, time=start)
        self._op(type="info" if after is None else "ok", f="restart", process="nemesis",
                 value={"scope": scope, "before": before, "after": after,
                        "exact": exact and before is not None and after is not None},
                 start=start, time=end)
        return self

    def event(self, f, time, **fields):
        self._op(type="info", process="nemesis", f=f, time=time, **fields)
        return self

    def final(self, unread=(), settled=True):
        self.lines.append({"run": self.run, "type": "final", "settled": settled,
                           "unread": [{"pid": pid, "reason": "gone"} for pid in unread]})
        return self

    def check(self, view="shared", lost=0, unexpected=0, duplicates=0, counter_checked=True):
        self.lines.append({"run": self.run, "type": "check", "view": view, "counter_checked": counter_checked,
                           "lost": lost, "unexpected": unexpected, "duplicates": duplicates, "final": 0,
                           "acknowledged": 0, "verdict": "ok"})
        return self

    def text(self):
        return "".join(json.dumps(line) + "\n" for line in self.lines)


class Files:
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def write(self, text, name="h.jsonl"):
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def run_main(self, text, *flags):
        path = self.write(text)
        out, err = io.StringIO(), io.StringIO()
        code = hc.main([path, *flags], out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    def checked(self, history, view="shared"):
        """(lost, unexpected, duplicates) and the pass, as this checker works them out."""
        if not any(line.get("type") == "final" for line in history.lines):
            history.final()
        history.check(view)
        runs = hc.read_history(self.write(history.text()))
        figures, which, _ = hc.RunCheck(runs[0], shared=view in ("shared", "per-host"),
                                        per_host=view == "per-host").result()
        return (figures["lost"], figures["unexpected"], figures["duplicates"]), which


def sequential(final):
    """Three increments one after another, counts 1...3, then one final read."""
    return History().ok(1, 0, 10).ok(2, 20, 30).ok(3, 40, 50).read(final, 100, 110)


class BasicBounds(Files, unittest.TestCase):
    def test_exact_history_is_clean(self):
        self.assertEqual(self.checked(sequential(3))[0], (0, 0, 0))

    def test_a_low_final_read_is_lost(self):
        self.assertEqual(self.checked(sequential(2))[0], (1, 0, 0))

    def test_a_high_final_read_is_unexpected(self):
        self.assertEqual(self.checked(sequential(4))[0], (0, 1, 0))

    def test_a_failed_increment_never_raises_the_upper_bound(self):
        self.assertEqual(self.checked(sequential(4).fail(55, 60))[0], (0, 1, 0))

    def test_an_indeterminate_increment_raises_the_upper_bound(self):
        self.assertEqual(self.checked(sequential(4).info(55, 60))[0], (0, 0, 0))

    def test_no_final_read_means_no_lost_or_unexpected(self):
        history = History().ok(1, 0, 10).ok(2, 20, 30).read(0, 15, 16, final=False)
        self.assertEqual(self.checked(history.final(unread=[A]))[0], (0, 0, 0))

    def test_reads_during_the_load_are_not_the_final_state(self):
        history = sequential(3).read(0, 5, 6, final=False)
        self.assertEqual(self.checked(history)[0], (0, 0, 0))

    def test_the_final_reads_are_those_written_with_the_last_final_line(self):
        # As statelab's recordFinal, a later final state replaces the earlier one.
        history = sequential(3).final().read(1, 120, 130)
        self.assertEqual(self.checked(history.final())[0], (2, 0, 0))

    def test_shared_takes_the_highest_final_read(self):
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=B)
        history.read(2, 100, 110, pid=A).read(1, 100, 111, pid=B, worker=1)
        self.assertEqual(self.checked(history)[0], (0, 0, 0))

    def test_shared_leaves_an_unread_worker_out(self):
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=B).ok(3, 40, 50, pid=A)
        history.read(3, 100, 110, pid=A).final(unread=[B])
        self.assertEqual(self.checked(history)[0], (0, 0, 0))


class Duplicates(Files, unittest.TestCase):
    def test_every_repeat_of_a_count_is_one_duplicate(self):
        # Two workers wrote 2; three wrote 3 (one answer named no pid).
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A).ok(2, 20, 31, pid=B)
        history.ok(3, 40, 50, pid=A).ok(3, 40, 51, pid=B).ok(3, 40, 52, pid=None).read(3, 100, 110)
        self.assertEqual(self.checked(history)[0], (3, 0, 3))

    def test_duplicates_alone(self):
        history = History().ok(1, 0, 10, pid=A).ok(1, 0, 11, pid=B).info(0, 12).read(2, 100, 110)
        self.assertEqual(self.checked(history)[0], (0, 0, 1))

    def test_an_answer_without_a_count_is_no_witness(self):
        history = History().ok(1, 0, 10).ok(None, 20, 30).ok(None, 40, 50).read(3, 100, 110)
        self.assertEqual(self.checked(history)[0], (0, 0, 0))

    def test_per_worker_equal_counts_of_two_workers_are_normal(self):
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A)
        history.ok(1, 0, 10, pid=B).ok(2, 20, 30, pid=B).ok(3, 40, 50, pid=B)
        history.read(2, 100, 110, pid=A).read(3, 100, 110, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker")[0], (0, 0, 0))

    def test_the_same_history_read_as_one_shared_counter_has_duplicates(self):
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A)
        history.ok(1, 0, 10, pid=B).ok(2, 20, 30, pid=B).ok(3, 40, 50, pid=B)
        history.read(2, 100, 110, pid=A).read(3, 100, 110, pid=B, worker=1)
        self.assertEqual(self.checked(history, "shared")[0], (2, 0, 2))

    def test_per_worker_repeats_within_one_worker_count(self):
        history = History().ok(1, 0, 10, pid=A).ok(1, 20, 30, pid=A).ok(1, 0, 10, pid=B)
        history.read(2, 100, 110, pid=A).read(1, 100, 110, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker")[0], (0, 0, 1))


class PerWorker(Files, unittest.TestCase):
    def test_the_final_reads_are_summed(self):
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A).ok(1, 0, 10, pid=B)
        history.read(1, 100, 110, pid=A).read(1, 100, 110, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker")[0], (1, 0, 0))

    def test_each_worker_holds_its_own_bounds_in_the_sum(self):
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A).ok(1, 0, 10, pid=B)
        history.read(3, 100, 110, pid=A).read(1, 100, 110, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker")[0], (0, 1, 0))

    def test_an_unread_worker_took_its_counter_with_it(self):
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A)
        history.ok(1, 0, 10, pid=B).ok(2, 20, 30, pid=B).ok(3, 40, 50, pid=B).read(2, 100, 110, pid=A)
        # Named unread in the final line, or departed without a word: left out either way.
        self.assertEqual(self.checked(history.final(unread=[B]), "per-worker")[0], (0, 0, 0))
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A)
        history.ok(1, 0, 10, pid=B).ok(2, 20, 30, pid=B).ok(3, 40, 50, pid=B).read(2, 100, 110, pid=A)
        history.event("departed", 60, pid=B, value="killed")
        self.assertEqual(self.checked(history, "per-worker")[0], (0, 0, 0))
        # Read as 0 instead, the same history loses B's three.
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A)
        history.ok(1, 0, 10, pid=B).ok(2, 20, 30, pid=B).ok(3, 40, 50, pid=B)
        history.read(2, 100, 110, pid=A).read(0, 100, 110, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker")[0], (3, 0, 0))

    def test_an_answer_naming_no_worker_widens_the_upper_bound(self):
        def history(final):
            return History().ok(1, 0, 10, pid=A).ok(None, 20, 30, pid=None).read(final, 100, 110, pid=A)
        self.assertEqual(self.checked(history(2), "per-worker")[0], (0, 0, 0))
        self.assertEqual(self.checked(history(3), "per-worker")[0], (0, 1, 0))

    def test_with_every_worker_read_an_answer_naming_none_is_certain_somewhere(self):
        # As statelab's Checker.figures: the unknown pool joins `certain` when no worker is unread.
        history = History().ok(1, 0, 10, pid=A).ok(None, 20, 30, pid=None).read(1, 100, 110, pid=A)
        self.assertEqual(self.checked(history, "per-worker")[0], (1, 0, 0))
        # With a worker unread, it may be on that one: only possible.
        history = History().ok(1, 0, 10, pid=A).ok(None, 20, 30, pid=None).read(1, 100, 110, pid=A)
        self.assertEqual(self.checked(history.final(unread=[B]), "per-worker")[0], (0, 0, 0))

    def test_a_worker_with_acknowledged_increments_and_no_final_read_counts_as_unread(self):
        # B answered an increment and was not read at the end (no word why): the pool may be on B.
        history = History().ok(1, 0, 10, pid=A).ok(1, 0, 10, pid=B).ok(None, 20, 30, pid=None)
        self.assertEqual(self.checked(history.read(1, 100, 110, pid=A), "per-worker")[0], (0, 0, 0))

    def test_a_reset_through_one_worker_wipes_nothing_of_the_pool(self):
        # The increment naming no worker ended before the reset through A: it may be on B, so still possible.
        history = History().ok(1, 0, 10, pid=A).ok(None, 20, 30, pid=None).reset(100, 110, pid=A)
        history.ok(1, 120, 130, pid=A).read(1, 200, 210, pid=A).read(1, 200, 210, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker")[0], (0, 0, 0))
        history = History().ok(1, 0, 10, pid=A).ok(None, 20, 30, pid=None).reset(100, 110, pid=A)
        history.ok(1, 120, 130, pid=A).read(1, 200, 210, pid=A).read(2, 200, 210, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker")[0], (0, 1, 0))
        # Every reset starts a new epoch for the pool: the one before the reset is no longer certain.
        history = History().ok(1, 0, 10, pid=A).ok(None, 20, 30, pid=None).reset(100, 110, pid=A)
        history.ok(1, 120, 130, pid=A).read(1, 200, 210, pid=A)
        self.assertEqual(self.checked(history, "per-worker")[0], (0, 0, 0))


def reset_history(final):
    """Three increments, a reset from 100 to 110, one increment overlapping it,
    two after it (counts 1, 2 again)."""
    history = History().ok(1, 0, 10).ok(2, 20, 30).ok(3, 40, 50).ok(1, 95, 105)
    history.reset(100, 110, pid=A).ok(2, 120, 130).ok(3, 140, 150)
    return history.read(final, 200, 210)


class Resets(Files, unittest.TestCase):
    def test_a_reset_starts_a_new_epoch(self):
        self.assertEqual(self.checked(reset_history(3))[0], (0, 0, 0))
        # Without the overlapping one the final could be 2; below that, an update was lost.
        self.assertEqual(self.checked(reset_history(2))[0], (0, 0, 0))
        self.assertEqual(self.checked(reset_history(1))[0], (1, 0, 0))
        # Increments that ended before the reset began were wiped.
        self.assertEqual(self.checked(reset_history(4))[0], (0, 1, 0))

    def test_a_duplicate_after_a_reset_is_still_caught(self):
        self.assertEqual(self.checked(reset_history(3).ok(3, 140, 151, pid=B))[0], (0, 0, 1))

    def test_an_increment_overlapping_a_reset_is_never_a_duplicate(self):
        # Count 1 at 95..105 repeats the first increment's count, in the same epoch.
        history = History().ok(1, 0, 10).ok(1, 95, 105).reset(100, 110).read(0, 200, 210)
        self.assertEqual(self.checked(history)[0], (0, 0, 0))
        history = History().ok(1, 0, 10).ok(1, 95, 99).reset(100, 110).read(0, 200, 210)
        self.assertEqual(self.checked(history)[0], (0, 0, 1))

    def test_a_failed_reset_starts_no_epoch(self):
        history = History().ok(1, 0, 10).ok(2, 20, 30).reset(100, 110, outcome="fail")
        history.ok(1, 120, 130).read(3, 200, 210)
        self.assertEqual(self.checked(history)[0], (0, 0, 1))

    def test_only_increments_starting_after_the_reset_ended_are_in_its_epoch(self):
        # Started at 108, before the reset ended: it may be on either side, so only possible.
        history = History().ok(1, 0, 10).reset(100, 110).ok(1, 108, 120).read(0, 200, 210)
        self.assertEqual(self.checked(history)[0], (0, 0, 0))
        history = History().ok(1, 0, 10).reset(100, 110).ok(1, 108, 120).read(2, 200, 210)
        self.assertEqual(self.checked(history)[0], (0, 1, 0))

    def test_wiped_means_ended_strictly_before_the_reset_began(self):
        def history(end):
            h = History().ok(1, 0, 10).ok(2, 20, end).reset(30, 40).ok(1, 50, 60).ok(2, 70, 80)
            return h.read(3, 200, 210)
        self.assertEqual(self.checked(history(30))[0], (0, 0, 0))  # ended as it began: may be in
        self.assertEqual(self.checked(history(29))[0], (0, 1, 0))  # wiped

    def test_the_latest_reset_by_start_decides_what_was_wiped(self):
        # Two resets, the second begins later but ends first.
        history = History().ok(1, 0, 10).ok(2, 20, 40).reset(30, 200).reset(50, 70)
        history.ok(1, 300, 310).read(3, 400, 410)
        # certain 1 (after both); both earlier ones ended before 50, when the later-begun reset began: wiped.
        self.assertEqual(self.checked(history)[0], (0, 2, 0))
        history = History().ok(1, 0, 10).ok(2, 20, 60).reset(30, 200).reset(50, 70)
        history.ok(1, 300, 310).read(3, 400, 410)
        # The one that ended at 60 may be in: 3 is unexpected by 1.
        self.assertEqual(self.checked(history)[0], (0, 1, 0))

    def test_per_worker_a_reset_empties_the_worker_it_went_through(self):
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A).ok(1, 0, 10, pid=B).ok(2, 20, 30, pid=B)
        history.reset(100, 110, pid=A).ok(1, 120, 130, pid=A)
        history.read(1, 200, 210, pid=A).read(2, 200, 210, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker")[0], (0, 0, 0))

    def test_per_worker_a_reset_without_pid_reaches_every_worker(self):
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A).ok(1, 0, 10, pid=B)
        history.reset(100, 110, pid=None).ok(1, 120, 130, pid=A).ok(1, 120, 130, pid=B)
        history.read(1, 200, 210, pid=A).read(1, 200, 210, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker")[0], (0, 0, 0))
        # Had it reached A only, B's 2 would be certain and 1 read: one lost.
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A).ok(1, 0, 10, pid=B)
        history.reset(100, 110, pid=A).ok(1, 120, 130, pid=A).ok(2, 120, 130, pid=B)
        history.read(1, 200, 210, pid=A).read(1, 200, 210, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker")[0], (1, 0, 0))

    def test_the_completions_pid_is_the_one_that_counts(self):
        # Sent to any worker (pid null), answered by A: it reset A only.
        def history(answer_pid):
            h = History().ok(1, 0, 10, pid=A).ok(1, 0, 10, pid=B).ok(2, 20, 30, pid=B)
            h.reset(100, 110, pid=None, answer_pid=answer_pid, worker=0)
            return h.read(0, 200, 210, pid=A).read(2, 200, 210, pid=B, worker=1)
        self.assertEqual(self.checked(history(A), "per-worker")[0], (0, 0, 0))
        # Had the answer named no pid, it would have reset B too: B's 2 unexpected.
        self.assertEqual(self.checked(history(None), "per-worker")[0], (0, 2, 0))


def restart_history(before, after, final, exact=True, first=None):
    """100 acknowledged, a store restart from `before` to `after`, 50 more, a final read."""
    history = History()
    if first:
        first(history)
    t = 1_000
    for count in range(1, 101):
        history.ok(count, t, t + 5)
        t += 10
    history.read(before, t, t + 5, final=False)
    history.restart(t + 10, t + 100, before, after, exact=exact)
    history.fail(t + 20, t + 21)
    t += 200
    for count in range(after + 1 if after is not None else 1, (after or 0) + 51):
        history.ok(count, t, t + 5)
        t += 10
    if final is not None:
        history.read(final, t + 100, t + 110)
    return history


class Restarts(Files, unittest.TestCase):
    def test_a_durable_store(self):
        self.assertEqual(self.checked(restart_history(100, 100, 150))[0], (0, 0, 0))

    def test_a_store_that_forgets_is_not_blamed_for_races(self):
        self.assertEqual(self.checked(restart_history(100, 0, 50))[0], (0, 0, 0))

    def test_races_before_the_restart_are_lost(self):
        # 100 acknowledged, 80 counted before it: 20 lost to races.
        self.assertEqual(self.checked(restart_history(80, 80, 130))[0], (20, 0, 0))

    def test_races_after_the_restart_are_lost(self):
        self.assertEqual(self.checked(restart_history(100, 100, 140))[0], (10, 0, 0))

    def test_a_count_above_what_could_apply_is_unexpected(self):
        self.assertEqual(self.checked(restart_history(100, 0, 60))[0], (0, 10, 0))

    def test_an_inexact_restart_judges_nothing_before_it(self):
        self.assertEqual(self.checked(restart_history(80, 80, 130, exact=False))[0], (0, 0, 0))

    def test_a_restart_never_read_back(self):
        history = restart_history(10, None, None).final(unread=[A])
        self.assertEqual(self.checked(history)[0], (0, 0, 0))

    def test_races_before_an_exact_restart_count_even_with_no_final_read(self):
        # As Checker.figures does: lostBeforeRestarts is added outside the final-read guard.
        history = restart_history(80, 80, None).final(unread=[A])
        self.assertEqual(self.checked(history)[0], (20, 0, 0))

    def test_an_earlier_operation_with_another_outcome_makes_the_epoch_unclear(self):
        # Even a reset that certainly failed, as statelab's `unclear` reads it.
        history = restart_history(80, 80, 130, first=lambda h: h.reset(10, 20, outcome="fail"))
        self.assertEqual(self.checked(history)[0], (0, 0, 0))

    def test_each_restart_judges_its_own_epoch(self):
        def history(second_before):
            h = restart_history(100, 100, None)  # 50 more after it, counts 101...150
            h.read(second_before, 5_000, 5_005, final=False).restart(5_010, 5_100, second_before, second_before)
            for count in range(1, 11):
                h.ok(second_before + count, 5_200 + 10 * count, 5_205 + 10 * count)
            return h.read(second_before + 10, 6_000, 6_010)
        self.assertEqual(self.checked(history(150))[0], (0, 0, 0))
        # 100 carried over and 50 acknowledged since, 140 read before the second restart: 10 lost.
        self.assertEqual(self.checked(history(140))[0], (10, 0, 0))

    def test_a_later_unanswered_reset_drops_the_races_before_a_restart(self):
        # As Checker's second pass does (lostBeforeRestarts skips every restart when assuming it applied).
        history = restart_history(80, 80, 130).reset(9_000, 9_100, outcome="info")
        self.assertEqual(self.checked(history), ((0, 0, 0), "second"))

    def test_an_unclear_earlier_restart_blames_nothing(self):
        history = History()
        t = 1_000
        for count in range(1, 301):
            history.ok(count, t, t + 5)
            t += 10
        history.restart(t, t + 50, 300, None)  # never read back: indeterminate
        t += 100
        for count in range(1, 51):
            history.ok(count, t, t + 5)
            t += 10
        history.read(50, t, t + 5, final=False).restart(t + 10, t + 60, 50, 0)
        t += 100
        for count in range(1, 21):
            history.ok(count, t, t + 5)
            t += 10
        history.read(20, t + 10, t + 20)
        # The first pass sees counts 1...50 twice in one epoch; the second takes the first restart as applied.
        self.assertEqual(self.checked(history), ((0, 0, 0), "second"))


def reset_without_answer(final, end=110):
    """Three before a reset that got no answer, three after it."""
    history = History().ok(1, 0, 10).ok(2, 20, 30).ok(3, 40, 50).reset(100, end, outcome="info", pid=A, worker=0)
    return history.ok(4, 120, 130).ok(5, 140, 150).ok(6, 160, 170).read(final, 200, 210)


class IndeterminateResets(Files, unittest.TestCase):
    def test_first_assumed_not_applied(self):
        self.assertEqual(self.checked(reset_without_answer(6)), ((0, 0, 0), "first"))

    def test_then_assumed_applied_when_the_first_pass_finds_something(self):
        self.assertEqual(self.checked(reset_without_answer(2)), ((0, 0, 0), "second"))

    def test_a_reset_with_no_completion_line_is_indeterminate(self):
        self.assertEqual(self.checked(reset_without_answer(2, end=None)), ((0, 0, 0), "second"))

    def test_the_second_pass_figures_are_reported_even_when_they_still_find_something(self):
        # Per worker: the reset went through A only; B's loss stays.
        history = History().ok(1, 0, 10, pid=A).ok(2, 20, 30, pid=A).ok(3, 40, 50, pid=A)
        history.ok(1, 0, 10, pid=B).ok(2, 20, 30, pid=B).reset(100, 110, outcome="info", pid=A)
        history.read(0, 200, 210, pid=A).read(1, 200, 210, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker"), ((1, 0, 0), "second"))

    def test_only_duplicates_folded_before_the_reset_remain(self):
        history = History().ok(1, 0, 10, pid=A).ok(1, 0, 11, pid=B).reset(100, 110, outcome="info")
        history.ok(2, 120, 130, pid=A).ok(2, 120, 131, pid=B).read(2, 200, 210)
        self.assertEqual(self.checked(history), ((0, 0, 1), "second"))

    def test_increments_held_by_a_chain_of_resets_in_flight_were_not_folded_yet(self):
        # A failed reset in flight from 50 to 105 holds the pair that ended at 60 and 70
        # until no reset is in flight (110): they are folded after the unanswered reset's figure.
        history = History().ok(1, 0, 10, pid=A).ok(1, 0, 11, pid=B)
        history.reset(50, 105, outcome="fail").ok(5, 55, 60, pid=A).ok(5, 55, 70, pid=B)
        history.reset(100, 110, outcome="info").read(4, 200, 210)
        self.assertEqual(self.checked(history), ((0, 0, 1), "second"))
        resets = sorted(hc.read_history(self.write(history.text()))[0].resets, key=lambda r: r.start)
        self.assertEqual(hc.busy_start(resets, resets[1]), 50)

    def test_any_unanswered_reset_may_have_reached_the_pool(self):
        history = History().ok(1, 0, 10, pid=A).ok(None, 20, 30, pid=None).reset(100, 110, outcome="info", pid=A)
        history.read(0, 200, 210, pid=A)
        self.assertEqual(self.checked(history, "per-worker"), ((0, 0, 0), "second"))

    def test_an_unanswered_reset_of_another_worker_leaves_this_one_alone(self):
        history = History().ok(1, 0, 10, pid=A).ok(1, 20, 30, pid=A).reset(100, 110, outcome="info", pid=B)
        history.read(2, 200, 210, pid=A).read(0, 200, 210, pid=B, worker=1)
        self.assertEqual(self.checked(history, "per-worker"), ((0, 0, 1), "second"))


class TimeOrder(Files, unittest.TestCase):
    def test_lines_out_of_order_and_completions_without_invoke(self):
        history = reset_history(1).ok(3, 140, 151, pid=B).ok(4, 160, 170, invoke=False)
        history.reset(300, 310, outcome="info")
        expected = self.checked(history)
        header, rest = history.lines[0], history.lines[1:]
        body = [line for line in rest if line.get("type") not in ("final", "check")]
        tail = [line for line in rest if line.get("type") in ("final", "check")]
        random.Random(7).shuffle(body)
        # Keep each reset's invoke before its completion, as statelab writes them.
        body.sort(key=lambda line: 0 if line.get("f") == "reset" and line["type"] == "invoke" else 1)
        shuffled = History()
        shuffled.lines = [header] + body + tail
        runs = hc.read_history(self.write(shuffled.text()))
        figures, which, _ = hc.RunCheck(runs[0], shared=True).result()
        self.assertEqual(((figures["lost"], figures["unexpected"], figures["duplicates"]), which), expected)


class Comparison(Files, unittest.TestCase):
    def test_agreement_exits_0(self):
        code, out, _ = self.run_main(sequential(2).final().check(lost=1).text())
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^run 0  test/run  shared  statelab lost 1 unexpected 0 duplicates 0  "
                              r"checker lost 1 unexpected 0 duplicates 0  agree\n$")

    def test_disagreement_exits_1(self):
        code, out, _ = self.run_main(sequential(2).final().check(lost=0).text())
        self.assertEqual(code, 1)
        self.assertIn("DISAGREE", out)
        self.assertIn("lost 0 vs 1 (+1)", out)

    def test_several_runs_one_line_each(self):
        text = sequential(3).final().check().text()
        second = History(run=1, name="other")
        second.ok(1, 0, 10, pid=A).ok(1, 0, 10, pid=B).read(1, 20, 30, pid=A).read(1, 20, 30, pid=B, worker=1)
        text += second.final().check(view="per-worker").text()
        code, out, _ = self.run_main(text)
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].startswith("run 0  test/run  shared") and lines[0].endswith("agree"))
        self.assertTrue(lines[1].startswith("run 1  other  per-worker") and lines[1].endswith("agree"))

    def test_a_run_without_a_counter_is_not_applicable(self):
        text = History().ok(None, 0, 10).final().check(counter_checked=False, lost=5).text()
        code, out, _ = self.run_main(text)
        self.assertEqual(code, 0)
        self.assertIn("not applicable", out)

    def test_a_run_without_a_check_line_is_named_and_not_judged(self):
        text = sequential(2).final().text() + sequential(3).final().check().text().replace('"run": 0', '"run": 1')
        code, out, _ = self.run_main(text)
        self.assertEqual(code, 0)
        self.assertIn("run 0  test/run  no check line", out)

    def test_json_output(self):
        text = sequential(2).final().check(lost=0).text()
        code, out, _ = self.run_main(text, "--json")
        self.assertEqual(code, 1)
        entries = json.loads(out)
        self.assertEqual(len(entries), 1)
        entry = entries[0]
        self.assertEqual(entry["run"], 0)
        self.assertEqual(entry["view"], "shared")
        self.assertEqual(entry["statelab"], {"lost": 0, "unexpected": 0, "duplicates": 0})
        self.assertEqual(entry["checker"], {"lost": 1, "unexpected": 0, "duplicates": 0})
        self.assertEqual(entry["status"], "DISAGREE")
        self.assertEqual(entry["pass"], "first")

    def test_the_second_pass_is_named(self):
        code, out, _ = self.run_main(reset_without_answer(2).final().check().text())
        self.assertEqual(code, 0)
        self.assertIn("assumes it applied", out)

    def test_a_difference_statelabs_time_bins_explain_is_still_a_disagreement(self):
        # The increment that ended at 1,900 ns ended before the reset began at 2,000: wiped.
        # statelab's 1,024 ns bins put both in one bin, so it keeps the increment possible.
        history = History().ok(1, 0, 100).ok(2, 1_800, 1_900).reset(2_000, 2_100).ok(1, 3_000, 3_100)
        history.read(2, 4_000, 4_100).final()
        self.assertEqual(self.checked(history)[0], (0, 1, 0))
        history.lines = history.lines[:-1]  # the check line checked() added
        code, out, _ = self.run_main(history.check(unexpected=0).text())
        self.assertEqual(code, 1)
        self.assertIn("DISAGREE", out)
        self.assertIn("unexpected 0 vs 1 (+1)", out)
        self.assertIn("2^10 ns", out)
        self.assertIn("the difference is statelab rounding times to bins", out)


class UnreadableFiles(Files, unittest.TestCase):
    def assert_unreadable(self, text, *needles):
        code, out, err = self.run_main(text)
        self.assertEqual(code, 2)
        self.assertEqual(out, "")
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        for needle in needles:
            self.assertIn(needle, err)

    def test_a_line_that_is_not_json(self):
        lines = sequential(3).text().splitlines(keepends=True)
        lines[2] = '{"run":0,"type":"ok",\n'
        self.assert_unreadable("".join(lines), "line 3", "not JSON")

    def test_a_line_that_is_not_an_object(self):
        self.assert_unreadable(sequential(3).text() + "[1,2]\n", "line 10", "not a JSON object")

    def test_a_missing_field(self):
        history = sequential(3)
        del history.lines[2]["start"]
        self.assert_unreadable(history.text(), "line 3", '"start"')

    def test_a_wrong_type(self):
        history = sequential(3)
        history.lines[2]["count"] = "one"
        self.assert_unreadable(history.text(), "line 3", '"count"')

    def test_a_line_before_its_runs_header(self):
        self.assert_unreadable("".join(sequential(3).text().splitlines(keepends=True)[1:]), "line 1", "header")

    def test_no_run_at_all(self):
        self.assert_unreadable("", "no run")

    def test_a_file_that_is_not_there(self):
        out, err = io.StringIO(), io.StringIO()
        code = hc.main([os.path.join(self.dir.name, "missing.jsonl")], out=out, err=err)
        self.assertEqual(code, 2)
        self.assertIn("cannot read", err.getvalue())


class CommandLine(Files, unittest.TestCase):
    def test_runs_as_a_script(self):
        path = self.write(sequential(2).final().check(lost=1).text())
        done = subprocess.run([sys.executable, SCRIPT, path], capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue(done.stdout.strip().endswith("agree"))

    def test_is_executable(self):
        self.assertTrue(os.access(SCRIPT, os.X_OK))
        with open(SCRIPT, encoding="utf-8") as handle:
            self.assertEqual(handle.readline().strip(), "#!/usr/bin/env python3")



class PerHostTests(Files, unittest.TestCase):
    """--hosts with a store each host has its own of: one counter per host."""

    def hosted(self, lines):
        """Puts a host on every add and final read, as statelab writes them (pid A, B on host 1; C, D on host 2)."""
        hosts = {101: 1, 202: 1, 303: 2, 404: 2}
        for line in lines:
            if line.get("f") in ("add", "read") and line.get("type") != "invoke" and line.get("pid") in hosts:
                line["host"] = hosts[line["pid"]]
        return lines

    def test_equal_counts_on_two_hosts_are_not_duplicates(self):
        h = History().ok(1, 0, 5, pid=101).ok(2, 10, 15, pid=202).ok(1, 20, 25, pid=303).ok(2, 30, 35, pid=404)
        for pid in (101, 202, 303, 404):
            h.read(2, 100, 105, pid=pid)
        self.hosted(h.lines)
        self.assertEqual(self.checked(h, view="per-host"), ((0, 0, 0), "first"))
        # As one counter shared by every host, the same history loses two and repeats two counts.
        h2 = History().ok(1, 0, 5, pid=101).ok(2, 10, 15, pid=202).ok(1, 20, 25, pid=303).ok(2, 30, 35, pid=404)
        for pid in (101, 202, 303, 404):
            h2.read(2, 100, 105, pid=pid)
        self.assertEqual(self.checked(h2, view="shared"), ((2, 0, 2), "first"))

    def test_a_lost_update_within_a_host_is_lost(self):
        h = History().ok(1, 0, 5, pid=101).ok(1, 2, 7, pid=202).ok(1, 20, 25, pid=303)
        for pid in (101, 202, 303, 404):
            h.read(1, 100, 105, pid=pid)
        self.hosted(h.lines)
        self.assertEqual(self.checked(h, view="per-host"), ((1, 0, 1), "first"))

    def test_the_per_host_view_is_read(self):
        h = History().ok(1, 0, 5, pid=101).read(1, 100, 105, pid=101)
        self.hosted(h.lines)
        h.final().check(view="per-host")
        code, out, _ = self.run_main(h.text())
        self.assertEqual(code, 0, out)
        self.assertIn("per-host", out)

if __name__ == "__main__":
    unittest.main()
