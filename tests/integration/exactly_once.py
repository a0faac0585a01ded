"""Exactly-once checker for the journal and workflow tickets (issue 16 item 5):
the pure checkers that judge a recorded history (check_journal,
check_workflow) and the step server whose steps log their effects.
The load, the faults and the schedule are in exactly_once_run.py; the short
schedule runs in test_exactly_once.py (make test), the long one in
scripts/exactly_once_soak.py (make soak).

What is checked, and why it must hold:

Journal. An append the client saw answered 200 is acknowledged; the test
kit's /t/journal gives each entry the fields s (the session's short id) and
k (that session's count of entries, 0, 1, ...), so (s, k) names one entry.
After the faults and once every worker's journal shows nothing pending, one
consumer (tetherctl journal consume) takes the domain: each acknowledged
(s, k) must be consumed once (lost: never; duplicated: more than once).
Entries consumed without an acknowledgement (the reply was cut by a kill)
are allowed and counted (unacknowledged_found).

Workflow. A run is one take of the ticket (one lease token; the hash's
`runs` counts the takes, and a take clears the steps of the run before).
The workflow under test has two steps, one -> two, and retries 0, so a run
calls `one` at most once and `two` at most once, with the data `one`
answered. The step server logs every call (its effect) with a fresh call id;
`one` answers {"call": id}, `two` answers {"call": id, "parent": the id of
the `one` it follows}. The runner records step.<i> only while it holds the
lease (the write and the lease check in one script), so:
  W1 every ticket started (201) ends done or failed, finished exactly once;
  W2 the recorded steps are one run's: step.0 is `one`, step.1 is `two`
     whose parent is step.0's call, nothing recorded past `steps`, and done
     means both; each recorded call id is a logged call of that ticket and step;
  W3 a step once per run: calls of `one` <= runs; at most one `two` per `one`;
  W4 fenced: a runner paused (SIGSTOP) in its call of `one` past its lease
     calls no `two` after it, and its `one` is not the one recorded.
A step may legitimately be called again by a later run (its earlier result
was never recorded, or was cleared by the take): those re-runs are counted
(steps_rerun), not flagged.

Thread safety: StepLog is shared by the step server's threads (a lock); the
checkers are pure functions."""
import collections
import json
import threading
import time

STEPS = ("one", "two")


class StepLog:
    """The step functions for scripts/stepserver.py's StepServer (steps "one"
    and "two"), and the log of their calls: dicts call, ticket, step, parent,
    t (monotonic). A ticket whose key starts with "hold-" waits in `one`
    until release() (at most 20 s), so a test knows it is mid-call."""

    def __init__(self, step_s=0.05):
        self.step_s = step_s
        self.calls = []
        self.lock = threading.Lock()
        self.next_id = 0
        self.two_url = None  # set once the server has a port
        self.holding = threading.Event()

    def _log(self, body, step, parent):
        with self.lock:
            self.next_id += 1
            call = self.next_id
            self.calls.append({"call": call, "ticket": body.get("ticket"), "step": step, "parent": parent,
                               "t": time.monotonic()})
        return call

    def one(self, body, path, count):
        call = self._log(body, "one", None)
        if str(body.get("key", "")).startswith("hold-"):
            self.holding.wait(20)
        time.sleep(self.step_s)  # the step's own work: tickets are mid-step when a fault comes
        return 200, {"name": "one", "data": {"call": call}, "next": [{"name": "two", "url": self.two_url}]}

    def two(self, body, path, count):
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        call = self._log(body, "two", data.get("call"))
        time.sleep(self.step_s)
        return 200, {"name": "two", "data": {"call": call, "parent": data.get("call")}}

    def release(self):
        self.holding.set()

    def snapshot(self):
        with self.lock:
            return list(self.calls)


def check_journal(acks, entries):
    """acks: one dict per 200 reply: session (short id, or None when the
    client could not learn it), cookie, total (the session's count after the
    append), n. entries: what the consumer took, dicts with fields s, k.
    Returns the figures and the lists lost, duplicated (each (s, k))."""
    seen = collections.Counter((e.get("s"), e.get("k")) for e in entries)
    duplicated = sorted((key, c) for key, c in seen.items() if c > 1)
    want, unknown = set(), {}
    for a in acks:
        ks = range(a["total"] - a["n"], a["total"])
        if a["session"] is None:
            unknown.setdefault(a["cookie"], set()).update(ks)
        else:
            want.update((a["session"], k) for k in ks)
    lost = sorted(key for key in want if key not in seen)
    # An acknowledged append whose session's id the client could not learn
    # (its worker died before the next request): some session the client
    # never named must hold all of its entries.
    known = {s for s, _ in want}
    groups = collections.defaultdict(set)
    for s, k in seen:
        if s not in known:
            groups[s].add(k)
    for cookie, ks in sorted(unknown.items(), key=lambda x: -len(x[1])):
        match = next((s for s, have in groups.items() if ks <= have), None)
        if match is None:
            lost += [("?" + cookie[:12], k) for k in sorted(ks)]
        else:
            del groups[match]
    acknowledged = len(want) + sum(len(ks) for ks in unknown.values())
    return {"acknowledged": acknowledged, "found": len(entries), "distinct_found": len(seen), "lost": lost,
            "duplicated": duplicated, "unattributed": sum(len(ks) for ks in unknown.values()),
            "unacknowledged_found": max(0, len(seen) - acknowledged)}


def _int(v, default=0):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _data(rec, i):
    try:
        d = json.loads(rec.get("step.%d.data" % i) or "null")
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


def check_ticket(ticket, rec, calls, fences):
    """W1-W4 for one ticket: its hash (dict, or None when gone), the step
    server's calls of it, the fences (SIGSTOP faults) on it. Violations as text."""
    bad = []
    if rec is None:
        return ["ticket %s: started (201) but its hash is gone" % ticket]
    status, runs = rec.get("status.current"), _int(rec.get("runs"))
    if status not in ("done", "failed"):
        bad.append("ticket %s: ended %r, not done or failed" % (ticket, status))
    elif rec.get("finished") != "1":
        bad.append("ticket %s: finished %r times, not once" % (ticket, rec.get("finished")))
    steps = _int(rec.get("steps"), -1)
    recorded = sorted(_int(f.split(".")[1], -1) for f in rec if f.startswith("step.") and f.endswith(".name"))
    names = [rec.get("step.%d.name" % i) for i in range(max(steps, 0))]
    if recorded != list(range(max(steps, 0))):
        bad.append("ticket %s: steps=%s but step records %s (a write from another run)" % (ticket, steps, recorded))
    if names != list(STEPS[:len(names)]) or steps > len(STEPS):
        bad.append("ticket %s: recorded steps %s, not a run of %s" % (ticket, names, list(STEPS)))
    if status == "done" and names != list(STEPS):
        bad.append("ticket %s: done with steps %s" % (ticket, names))
    by_id = {c["call"]: c for c in calls}
    ids = []
    for i, name in enumerate(names):
        if rec.get("step.%d.status" % i) != "done":
            continue
        call = _data(rec, i).get("call")
        c = by_id.get(call)
        if c is None or c["step"] != name:
            bad.append("ticket %s: step.%d (%s) names call %r, which the step server never served for it"
                       % (ticket, i, name, call))
        ids.append(call)
    if len(ids) == 2 and _data(rec, 1).get("parent") != ids[0]:
        bad.append("ticket %s: step.1 follows call %r but step.0 is call %r: two runs interleaved"
                   % (ticket, _data(rec, 1).get("parent"), ids[0]))
    ones = [c for c in calls if c["step"] == "one"]
    if len(ones) > runs:
        bad.append("ticket %s: `one` called %d times in %d runs" % (ticket, len(ones), runs))
    per_parent = collections.Counter(c["parent"] for c in calls if c["step"] == "two")
    for parent, n in per_parent.items():
        if n > 1:
            bad.append("ticket %s: `two` called %d times after call %r of `one` (a step twice in one run)"
                       % (ticket, n, parent))
    for f in fences:
        if per_parent.get(f["held_call"]):
            bad.append("ticket %s: the runner paused past its lease in call %r (worker %s) went on to `two`"
                       % (ticket, f["held_call"], f["worker"]))
        if ids and ids[0] == f["held_call"]:
            bad.append("ticket %s: the paused runner's call %r is the recorded step.0" % (ticket, f["held_call"]))
    return bad


def check_workflow(started, records, calls, fences=()):
    """started: ticket ids (201s); records: ticket -> hash dict (None: gone);
    calls: StepLog calls; fences: dicts ticket, held_call, worker. Returns
    the figures and the list of violations."""
    by_ticket = collections.defaultdict(list)
    for c in calls:
        by_ticket[c["ticket"]].append(c)
    fence_by = collections.defaultdict(list)
    for f in fences:
        fence_by[f["ticket"]].append(f)
    violations = []
    for t in started:
        violations += check_ticket(t, records.get(t), by_ticket.get(t, []), fence_by.get(t, []))
    statuses = collections.Counter((records.get(t) or {}).get("status.current") for t in started)
    done_calls = sum(len(by_ticket.get(t, [])) for t in started)
    recorded = sum(_int((records.get(t) or {}).get("steps")) for t in started)
    errors = collections.Counter((records.get(t) or {}).get("error", "")[:120] for t in started
                                 if (records.get(t) or {}).get("status.current") == "failed")
    return {"tickets": len(started), "done": statuses.get("done", 0), "failed": statuses.get("failed", 0),
            "failed_errors": dict(errors),
            "runs": sum(_int((records.get(t) or {}).get("runs")) for t in started), "step_calls": done_calls,
            "steps_rerun": max(0, done_calls - recorded), "fenced": len(fences), "violations": violations}
