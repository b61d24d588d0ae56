#!/usr/bin/env python3
"""Recompute statelab's counter check from a --history file, independently.

Usage: Tools/history-check.py FILE.jsonl [--json]

statelab --history FILE.jsonl writes every operation of every run, one JSON
object a line (Tools/HISTORY.md documents each line). The last line of each
run is statelab's own check. This script reads the operations only, works
out `lost`, `unexpected` and `duplicates` again from the exact nanosecond
times, and says, run by run, whether it agrees with statelab's figures.

It is a separate, plain implementation of the rules in Tools/HISTORY.md
("The rules"), using the Python 3 standard library only. statelab folds
times into bins as the run streams; this checker keeps every operation and
compares times exactly.

Exit status: 0 when every run with a check line agrees, 1 when any run
disagrees, 2 when the file cannot be read (one line on stderr says which
line and what is wrong with it).
"""

import argparse
import json
import sys
from collections import Counter

# ---------------------------------------------------------------------------
# Counters. In the shared view there is one counter; in the per-worker view
# one per worker pid, plus a pool for increments whose answer named no pid;
# in the per-host view (--hosts with a store each host has its own of) one
# per host, plus a pool for increments of no known host.

SHARED = ("shared",)
UNKNOWN = ("unknown pid",)


def pid_key(pid):
    return ("pid", pid)


def host_key(host):
    return ("host", host)


INFINITY = float("inf")

# The figures compared with statelab's.
NAMES = ("lost", "unexpected", "duplicates")


class HistoryError(Exception):
    """A line this checker cannot read."""

    def __init__(self, line, message):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class Add:
    """One increment that ended (a completion line). A history may hold
    millions, hence the slots."""

    __slots__ = ("outcome", "start", "end", "pid", "count", "epoch", "overlaps", "host")

    def __init__(self, outcome, start, end, pid, count, host=None):
        self.outcome = outcome  # "ok", "fail" or "info"
        self.start = start
        self.end = end
        self.pid = pid
        self.count = count
        self.host = host  # the host whose counter it is (per-host view), when known
        # Set by Tally, for the counter the add belongs to in the view checked:
        self.epoch = 0  # how many of its applied resets ended before it started
        self.overlaps = False  # whether an applied reset of it overlapped it


class Reset:
    """A POST /reset, or a store or app restart (a reset to `base`)."""

    def __init__(self, kind, start, pid=None):
        self.kind = kind  # "reset" or "restart"
        self.start = start
        self.end = None  # None: no completion line (statelab took it as indeterminate)
        self.outcome = "info"
        self.pid = pid
        self.host = None  # the host of `pid`, when the run has a counter per host
        self.base = 0  # what the counter held once it ended: 0, or a restart's `after`
        self.before = None  # restarts: the count read just before
        self.exact = True  # restarts: both reads taken with nothing in flight

    @property
    def applied(self):
        return self.outcome == "ok" and self.end is not None

    @property
    def indeterminate(self):
        return self.outcome == "info"

    def touches(self, key):
        """A reset through one worker reaches that worker's counter only; the
        shared counter and the unknown pool are reached by every reset."""
        if key in (SHARED, UNKNOWN):
            return True
        if key[0] == "host":
            return self.pid is None or self.host is None or key == host_key(self.host)
        return self.pid is None or key == pid_key(self.pid)


class Run:
    def __init__(self, index, header, line):
        self.index = index
        self.name = header.get("name")
        self.line = line
        self.adds = []
        self.resets = []
        self.pids = {}  # each pid once, so a long history does not hold millions of copies
        self.final_reads = []  # (pid, value): the final state
        self.final_hosts = []  # the host of each final read (None without one), in the same order
        self.hosts_since_final = []
        self.reads_since_final = []  # final reads not yet closed by a final line
        self.unread = []  # pids the final line names
        self.check = None


# ---------------------------------------------------------------------------
# Reading the file.


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _int(obj, field, line, nullable=False):
    if field not in obj:
        raise HistoryError(line, f'no "{field}" field')
    value = obj[field]
    if value is None and nullable:
        return None
    if not _is_int(value):
        kind = "an integer or null" if nullable else "an integer"
        raise HistoryError(line, f'"{field}" is {json.dumps(value)}, not {kind}')
    return value


def _bool(obj, field, line):
    value = obj.get(field)
    if not isinstance(value, bool):
        raise HistoryError(line, f'"{field}" is {json.dumps(value)}, not true or false')
    return value


def _object(obj, field, line):
    value = obj.get(field)
    if not isinstance(value, dict):
        raise HistoryError(line, f'"{field}" is {json.dumps(value)}, not an object')
    return value


def read_history(path):
    """Returns the runs of the file, by index. Raises HistoryError or OSError."""
    runs = {}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise HistoryError(number, f"not UTF-8 ({error.reason} at byte {error.start})")
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as error:
                raise HistoryError(number, f"not JSON: {error.msg} at column {error.colno}")
            if not isinstance(obj, dict):
                raise HistoryError(number, "not a JSON object")
            read_line(obj, number, runs)
    if not runs:
        raise HistoryError(0, "the file holds no run (no line with \"type\": \"run\")")
    for run in runs.values():
        run.final_reads += run.reads_since_final  # a run cut short, with no final line
    return [runs[index] for index in sorted(runs)]


def read_line(obj, line, runs):
    index = _int(obj, "run", line)
    kind = obj.get("type")
    if kind == "run":
        if index in runs:
            raise HistoryError(line, f"a second header for run {index} (the first is on line {runs[index].line})")
        runs[index] = Run(index, obj, line)
        return
    run = runs.get(index)
    if run is None:
        raise HistoryError(line, f'run {index} has no header line ("type": "run") before this line')
    f = obj.get("f")
    if kind == "check":
        if run.check is not None:
            raise HistoryError(line, f"a second check line for run {index}")
        view = obj.get("view")
        if view not in ("shared", "per-worker", "per-host"):
            raise HistoryError(line, f'"view" is {json.dumps(view)}, not "shared", "per-worker" or "per-host"')
        run.check = {
            "view": view,
            "counter_checked": _bool(obj, "counter_checked", line),
            "lost": _int(obj, "lost", line),
            "unexpected": _int(obj, "unexpected", line),
            "duplicates": _int(obj, "duplicates", line),
        }
    elif kind == "final":
        _bool(obj, "settled", line)
        unread = obj.get("unread")
        if not isinstance(unread, list) or not all(isinstance(u, dict) for u in unread):
            raise HistoryError(line, '"unread" is not a list of objects')
        # The final reads are the ones written just before it (statelab writes them together).
        run.final_reads, run.reads_since_final = run.reads_since_final, []
        run.final_hosts, run.hosts_since_final = run.hosts_since_final, []
        run.unread = [_int(u, "pid", line) for u in unread]
    elif f == "add":
        read_add(obj, kind, line, run)
    elif f == "read":
        if kind == "ok":
            final = _bool(obj, "final", line)
            pid = _int(obj, "pid", line)
            value = _int(obj, "value", line)
            _int(obj, "start", line)
            _int(obj, "time", line)
            if final:
                run.reads_since_final.append((pid, value))
                run.hosts_since_final.append(_int(obj, "host", line, nullable=True) if "host" in obj else None)
        elif kind != "invoke":
            raise HistoryError(line, f'a read with "type" {json.dumps(kind)}')
    elif f in ("reset", "restart"):
        read_reset(obj, kind, f, line, run)
    elif kind in ("invoke", "ok", "fail", "info"):
        pass  # a fault or another event, for the record only
    else:
        raise HistoryError(line, f'"type" is {json.dumps(kind)}, which no history line has')


def read_add(obj, kind, line, run):
    if kind == "invoke":
        _int(obj, "time", line)
        return
    if kind not in ("ok", "fail", "info"):
        raise HistoryError(line, f'an add with "type" {json.dumps(kind)}')
    start = _int(obj, "start", line)
    end = _int(obj, "time", line)
    # statelab writes `start` no later than the send and `time` after it; an older file may
    # have `time` a little before `start` (an intended send time up to 20 µs ahead): accepted.
    pid = _int(obj, "pid", line, nullable=True)
    pid = run.pids.setdefault(pid, pid)
    host = _int(obj, "host", line, nullable=True) if "host" in obj else None
    run.adds.append(Add(OUTCOMES[kind], start, end, pid, _int(obj, "count", line, nullable=True), host))


OUTCOMES = {"ok": "ok", "fail": "fail", "info": "info"}  # one string each, shared by every add


def read_reset(obj, kind, f, line, run):
    if kind == "invoke":
        time = _int(obj, "time", line)
        reset = Reset(f, time, pid=_int(obj, "pid", line, nullable=True) if f == "reset" else None)
        if f == "reset" and "host" in obj:
            reset.host = _int(obj, "host", line, nullable=True)
        if f == "restart":
            value = _object(obj, "value", line)
            reset.before = _int(value, "before", line, nullable=True)
            reset.exact = _bool(value, "exact", line)
        run.resets.append(reset)
        return
    if kind not in ("ok", "fail", "info"):
        raise HistoryError(line, f'a {f} with "type" {json.dumps(kind)}')
    start = _int(obj, "start", line)
    end = _int(obj, "time", line)
    # The completion carries its invoke's time as `start`: the first open one of the same kind.
    reset = next((r for r in run.resets if r.kind == f and r.start == start and r.end is None), None)
    if reset is None:
        reset = Reset(f, start)
        run.resets.append(reset)
    reset.end = end
    reset.outcome = kind
    if f == "reset":
        reset.pid = _int(obj, "pid", line, nullable=True)  # the answer's pid is authoritative
        if "host" in obj:
            reset.host = _int(obj, "host", line, nullable=True)
    else:
        value = _object(obj, "value", line)
        after = _int(value, "after", line, nullable=True)
        reset.before = _int(value, "before", line, nullable=True)
        reset.exact = _bool(value, "exact", line)
        reset.base = after if after is not None and kind == "ok" else 0


# ---------------------------------------------------------------------------
# The check.


def below(times, t, shift):
    """How many of `times` are before `t`: exactly (shift 0), or as statelab
    counts with bins of 2**shift ns (only whole bins that end by `t`)."""
    if shift == 0:
        return sum(1 for e in times if e < t)
    return sum(1 for e in times if (e >> shift) < (t >> shift))


class Tally:
    """The increments of one counter, each placed in its epoch."""

    def __init__(self, key, adds, applied):
        self.key = key
        self.indeterminate = sum(1 for add in adds if add.outcome == "info")
        self.ok_adds = [add for add in adds if add.outcome == "ok"]
        self.ok = len(self.ok_adds)
        self.ok_by_epoch = Counter()
        for add in self.ok_adds:
            # An epoch is how many of the counter's applied resets ended before the increment started.
            add.epoch = sum(1 for r in applied if r.end < add.start)
            # One that overlaps an applied reset may have counted on either side of it.
            add.overlaps = any(r.start <= add.end and r.end >= add.start for r in applied)
            self.ok_by_epoch[add.epoch] += 1
        self.duplicates = duplicates(self.ok_adds)

    def ok_ended_before(self, t, shift, epoch=None):
        return below([add.end for add in self.ok_adds if epoch is None or add.epoch == epoch], t, shift)


def duplicates(ok_adds):
    """Per epoch, a count returned a second time is one duplicate, and each
    further time one more. Increments without a count, or overlapping an
    applied reset, are no witnesses."""
    by_epoch = {}
    for add in ok_adds:
        if add.count is not None and not add.overlaps:
            by_epoch.setdefault(add.epoch, []).append(add.count)
    total = 0
    for counts in by_epoch.values():
        counts.sort()
        total += sum(1 for i in range(1, len(counts)) if counts[i] == counts[i - 1])
    return total


def busy_start(resets, reset):
    """Where the chain of resets and restarts in flight around `reset` began.

    statelab holds an increment that ends while any reset or restart is in
    flight until none is, so when a reset's missing answer is taken as
    indeterminate, it has folded only the increments that ended before that
    chain began."""
    start = reset.start
    changed = True
    while changed:
        changed = False
        for other in resets:
            other_end = INFINITY if other.end is None else other.end
            if other.start < start <= other_end:
                start = other.start
                changed = True
    return start


class RunCheck:
    """The counter check of one run, in the view statelab checked."""

    def __init__(self, run, shared, per_host=False):
        self.run = run
        self.shared = shared
        self.per_host = per_host  # one counter per host: `shared` within a host, summed across hosts
        # statelab numbers resets as they begin: in start order.
        self.resets = sorted(run.resets, key=lambda r: r.start)
        self.final_values = [value for _, value in run.final_reads]
        read_pids = {pid for pid, _ in run.final_reads}
        by_key = {}
        for add in run.adds:
            if per_host:
                key = UNKNOWN if add.host is None else host_key(add.host)
            else:
                key = SHARED if shared else (UNKNOWN if add.pid is None else pid_key(add.pid))
            by_key.setdefault(key, []).append(add)
        self.tallies = {key: Tally(key, adds, self.applied(key)) for key, adds in by_key.items()}
        if per_host:
            self.counted = [host_key(host) for host in sorted({h for h in run.final_hosts if h is not None})]
            self.unread = list(run.unread)
            # Each host's counter is its highest final read; the hosts' counters add up.
            highest = {}
            for (_, value), host in zip(run.final_reads, run.final_hosts):
                highest[host] = max(highest.get(host, value), value)
            self.per_host_final = sum(highest.values())
        elif shared:
            self.counted = [SHARED]
            self.unread = list(run.unread)
        else:
            self.counted = [pid_key(pid) for pid in sorted(read_pids)]
            # Workers that answered ok increments but were not read at the end took their counter with them.
            ok_pids = {add.pid for add in run.adds if add.outcome == "ok" and add.pid is not None}
            self.unread = list(run.unread) + sorted(ok_pids - read_pids - set(run.unread))

    def applied(self, key):
        return [r for r in self.resets if r.applied and r.touches(key)]

    def earliest_indeterminate(self, key):
        pending = [r for r in self.resets if r.indeterminate and r.touches(key)]
        return min(pending, key=lambda r: r.start) if pending else None

    def duplicates_before(self, reset, tally):
        start = busy_start(self.resets, reset)
        return duplicates([add for add in tally.ok_adds if add.end < start])

    def standing(self, tally, shift):
        """(certain, possible): the ok increments certainly in the counter's
        final value, and those that may be."""
        resets = self.applied(tally.key)
        if not resets:
            return tally.ok, tally.indeterminate
        latest = max(resets, key=lambda r: r.start)
        in_last_epoch = tally.ok_by_epoch[len(resets)]
        wiped = 0 if tally.key == UNKNOWN else tally.ok_ended_before(latest.start, shift)
        return in_last_epoch + latest.base, tally.ok - in_last_epoch - wiped + tally.indeterminate

    def lost_before_restarts(self, assume_indeterminate_applied, shift):
        """Exact restarts with a certain epoch start: what the epoch before
        acknowledged, on top of what it started from, less the count read just
        before the restart. None when an unanswered reset is assumed applied."""
        tally = self.tallies.get(SHARED)
        if tally is None or assume_indeterminate_applied:
            return 0
        lost = 0
        for restart in self.resets:
            if restart.kind != "restart" or not restart.exact or restart.before is None:
                continue
            unclear = any(
                other is not restart and other.start < restart.start
                and (other.outcome != "ok" or (INFINITY if other.end is None else other.end) >= restart.start)
                for other in self.resets)
            if unclear:
                continue
            earlier = [r for r in self.applied(SHARED) if r.end < restart.start]
            base = max(earlier, key=lambda r: r.start).base if earlier else 0
            acknowledged = tally.ok_ended_before(restart.start, shift, epoch=len(earlier))
            lost += max(0, acknowledged + base - restart.before)
        return lost

    def figures(self, assume_indeterminate_applied, shift=0):
        certain = possible = dups = 0
        for key in self.counted:
            tally = self.tallies.get(key)
            if tally is None:
                continue
            c, p = self.standing(tally, shift)
            pending = self.earliest_indeterminate(key) if assume_indeterminate_applied else None
            if pending is not None:
                possible += c + p
                dups += self.duplicates_before(pending, tally)
            else:
                certain += c
                possible += p
                dups += tally.duplicates
        if (not self.shared or self.per_host) and UNKNOWN in self.tallies:
            c, p = self.standing(self.tallies[UNKNOWN], shift)
            pending = assume_indeterminate_applied and self.earliest_indeterminate(UNKNOWN) is not None
            if not self.unread and not pending:
                certain += c
                possible += p
            else:
                possible += c + p
        final = 0
        lost = unexpected = 0
        if self.final_values:
            if self.per_host:
                final = self.per_host_final
            else:
                final = max(self.final_values) if self.shared else sum(self.final_values)
            lost = max(0, certain - final)
            unexpected = max(0, final - (certain + possible))
        if self.shared and not self.per_host and any(r.kind == "restart" for r in self.resets):
            lost += self.lost_before_restarts(assume_indeterminate_applied, shift)
        return {"lost": lost, "unexpected": unexpected, "duplicates": dups,
                "certain": certain, "possible": possible, "final": final}

    def result(self, shift=0):
        """The figures of the pass statelab reports, which pass that is, and a
        note when it cannot be told."""
        first = self.figures(False, shift)
        if not any(r.indeterminate for r in self.resets):
            return first, "first", None
        second = self.figures(True, shift)
        if found_something(first):
            return second, "second", None
        if three(first) == three(second):
            return first, "first", None
        # Only read violations (not recomputed here) would make statelab take the second pass.
        return first, "undecided", second


def three(figures):
    return tuple(figures[name] for name in NAMES)


def found_something(figures):
    return figures["lost"] > 0 or figures["duplicates"] > 0 or figures["unexpected"] > 0


def statelab_shift(run, resolution=10, max_bins=1 << 18):
    """statelab's bin width at the end of a run, estimated: 2**10 ns bins that
    double until the latest increment time fits in 2**18 of them."""
    latest = max((max(add.start, add.end) for add in run.adds), default=0)
    shift = resolution
    while (latest >> shift) >= max_bins:
        shift += 1
    return shift


# ---------------------------------------------------------------------------
# Comparing with statelab and printing.


def judge(run):
    entry = {"run": run.index, "name": run.name, "view": None, "counter_checked": None,
             "statelab": None, "checker": None, "status": None, "pass": None, "notes": []}
    if run.check is None:
        entry["status"] = "no check line"
        entry["notes"].append("the run has no check line (statelab stopped before its check), so there is nothing to compare")
        return entry
    entry["view"] = run.check["view"]
    entry["counter_checked"] = run.check["counter_checked"]
    if not run.check["counter_checked"]:
        entry["status"] = "not applicable"
        entry["notes"].append("statelab checked no counter in this run (nothing is read, e.g. a rate limit)")
        return entry
    statelab = {name: run.check[name] for name in NAMES}
    entry["statelab"] = statelab
    view = run.check["view"]
    check = RunCheck(run, shared=view in ("shared", "per-host"), per_host=view == "per-host")
    figures, which, other = check.result()
    entry["checker"] = {name: figures[name] for name in NAMES}
    entry["pass"] = which
    notes = entry["notes"]
    if which == "second":
        notes.append("the first pass found something and a reset or restart got no answer, "
                     "so as statelab does this reports the pass that assumes it applied")
    if which == "undecided":
        alternative = {name: other[name] for name in NAMES}
        entry["alternative"] = alternative
        notes.append("the first pass finds nothing here, but statelab also takes the pass that assumes an "
                     "unanswered reset applied on read violations alone, which this checker does not "
                     f"recompute: either {fmt(entry['checker'])} or {fmt(alternative)}")
        agree = statelab == entry["checker"] or statelab == alternative
    else:
        agree = statelab == entry["checker"]
    entry["status"] = "agree" if agree else "DISAGREE"
    if not agree:
        differences = ", ".join(
            f"{name} {statelab[name]} vs {entry['checker'][name]} ({entry['checker'][name] - statelab[name]:+d})"
            for name in NAMES if statelab[name] != entry["checker"][name])
        notes.append(f"statelab vs this checker: {differences}")
        shift = statelab_shift(run)
        binned, _, _ = check.result(shift)
        binned = {name: binned[name] for name in NAMES}
        width = f"2^{shift} ns = {(1 << shift) / 1000:g} µs"
        if binned == statelab:
            notes.append(f"with statelab's time bins ({width}, estimated) this checker gets statelab's figures: "
                         "the difference is statelab rounding times to bins (which only widens its bounds)")
        else:
            notes.append(f"with statelab's time bins ({width}, estimated) this checker gets {fmt(binned)}: "
                         "bin rounding does not explain the difference")
        if which == "second" and statelab["duplicates"] != entry["checker"]["duplicates"]:
            notes.append("duplicates here are those statelab had folded when the unanswered reset was given up, "
                         "which depends on the order things happened in, not only on the times written")
    return entry


def fmt(figures):
    return " ".join(f"{name} {figures[name]}" for name in NAMES)


def line_for(entry):
    head = f"run {entry['run']}  {entry['name']}"
    if entry["status"] == "no check line":
        return f"{head}  no check line: nothing to compare"
    if entry["status"] == "not applicable":
        return f"{head}  {entry['view']}  no counter checked: not applicable"
    text = (f"{head}  {entry['view']}  statelab {fmt(entry['statelab'])}  "
            f"checker {fmt(entry['checker'])}  {entry['status']}")
    if entry["notes"]:
        text += "  (" + "; ".join(entry["notes"]) + ")"
    return text


def main(argv=None, out=sys.stdout, err=sys.stderr):
    parser = argparse.ArgumentParser(
        prog="history-check.py",
        description="Recompute statelab's lost, unexpected and duplicates from a --history file and compare.")
    parser.add_argument("file", help="a history written by statelab --history (JSON lines)")
    parser.add_argument("--json", action="store_true", help="print a JSON array of per-run objects")
    args = parser.parse_args(argv)
    try:
        runs = read_history(args.file)
    except HistoryError as error:
        where = f"{args.file}: " + (f"line {error.line}: " if error.line else "")
        print(f"history-check: {where}{error.message}", file=err)
        return 2
    except OSError as error:
        print(f"history-check: cannot read {args.file}: {error.strerror or error}", file=err)
        return 2
    entries = [judge(run) for run in runs]
    if args.json:
        json.dump(entries, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        for entry in entries:
            print(line_for(entry), file=out)
    return 1 if any(entry["status"] == "DISAGREE" for entry in entries) else 0


if __name__ == "__main__":
    sys.exit(main())
