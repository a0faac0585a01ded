"""The ownership checker's history (issue 16, item 5): a recorder of every
/t/count request that client threads make, each thread holding one session
cookie, and pure functions that prove from the recorded history that one
session id never had two owners, that its counter never repeated or went
back, and that every session that ended was explained.

Threads: HistoryLoad runs one thread per client; each appends only its own
ops, under Recorder.lock; the checks run after the threads are joined and
touch nothing but their arguments.

An op is a dict: c (client), t0/t1 (monotonic start/end), status (an int,
or "error:<Exception>" when no answer came), held (the session id the
client held when it sent the request, or None), and, for a 200, sid, n,
owner, pid, epoch (None when the answer has none), reason.
A fault is a dict: kind, target, t0, t1 (while it acted)."""
import bisect
import http.client
import json
import threading
import time

from common import Client

ENDED_REASONS = ("lost", "expired", "invalid")  # what a client that sent a cookie may be told
EXPLAIN_SLACK_S = 3.0  # a session change counts as explained by a fault acting this close to it
# The faults that may end a session of their target: its owner died, was
# silent past the quick timeout (stopped, or its Redis so slow that its
# heartbeats fall out of the directory's window), or was cut off. A drain or
# a restart hands sessions over, and Redis slowed or restarted ends none.
ENDING_FAULTS = ("kill9", "sigstop", "redis_stall", "partition")


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops, self.faults = [], []
        self.origin = time.monotonic()

    def op(self, op):
        with self.lock:
            self.ops.append(op)

    def fault(self, kind, target, t0, t1=None):
        with self.lock:
            self.faults.append({"kind": kind, "target": target, "t0": t0, "t1": t1 if t1 is not None else t0})


def answer_fields(body):
    """The fields of a /t/count answer, or None when it is not one."""
    try:
        j = json.loads(body)
        out = {"sid": str(j["session"]), "n": int(j["n"]), "owner": str(j["owner"]), "pid": int(j["pid"]),
               "reason": str(j["reason"])}
        out["epoch"] = int(j["epoch"]) if "epoch" in j else None
        return out
    except (ValueError, KeyError, TypeError):
        return None


class HistoryLoad:
    """Client threads, each with its own session, calling /t/count until
    stop() or `seconds` pass or `max_ops` requests were made in all (both
    bounds always hold). ports: one nginx port per client (nginx with the
    route map, or a pass-through server that makes workers forward)."""

    def __init__(self, recorder, ports, seconds, max_ops=200000, timeout_s=20, ip="127.0.0.1", pause_s=0.005,
                 fresh_every=0, churners=0, start_at=None):
        """ports: a port on ip, or (ip, port), per client. pause_s: think time
        between requests; the first `churners` clients drop their cookie every
        fresh_every requests (new sessions all along). start_at: per client,
        None or the (ip, port) of its first request (its session is made
        there, then it goes on through ports: a session forwarded to)."""
        self.rec, self.seconds, self.max_ops, self.timeout_s = recorder, seconds, max_ops, timeout_s
        self.pause_s, self.fresh_every, self.churners = pause_s, fresh_every, churners
        self.clients = []
        for i, p in enumerate(ports):
            addr = p if isinstance(p, tuple) else (ip, p)
            cl = Client(addr[1], ip=addr[0])
            if start_at and start_at[i]:
                first = Client(start_at[i][1], ip=start_at[i][0])
                first.json("/t/count")  # the session, made at start_at (not in the history: before the load)
                first.close()
                cl.cookie = first.cookie
            self.clients.append((cl, i))
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(cl, i), daemon=True) for cl, i in self.clients]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self, timeout=60):
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for cl, _ in self.clients:
            cl.close()
        return not any(t.is_alive() for t in self.threads)

    def count(self):
        with self.rec.lock:
            return len(self.rec.ops)

    def _run(self, cl, i):
        deadline = time.monotonic() + self.seconds
        held, k, dropped = None, 0, False
        while not self._stop.is_set() and time.monotonic() < deadline and self.count() < self.max_ops:
            k += 1
            if i < self.churners and self.fresh_every and k % self.fresh_every == 0:
                cl.cookie, dropped = None, True
            # fresh: no cookie sent, on purpose (until an answer brings the new session's cookie)
            op = {"c": i, "held": held, "fresh": dropped, "t0": time.monotonic()}
            try:
                if cl.conn is None:
                    cl.conn = http.client.HTTPConnection(cl.ip, cl.port, timeout=self.timeout_s)
                status, _, body = cl.request("/t/count")
                op["status"] = status
                if status == 200:
                    fields = answer_fields(body)
                    if fields is None:
                        op["status"] = "error:bad_answer"
                    else:
                        op.update(fields)
                        held, dropped = fields["sid"], False
            except (OSError, http.client.HTTPException) as e:
                op["status"] = "error:" + type(e).__name__
                cl.close()
                cl.conn = None
            op["t1"] = time.monotonic()
            self.rec.op(op)
            # Think time (more after a failure: no spinning while a worker restarts).
            time.sleep(self.pause_s if op["status"] == 200 else 0.05)

    def served_since(self, t):
        """The clients that got a 200 to a request started after t."""
        with self.rec.lock:
            return {o["c"] for o in self.rec.ops if o["status"] == 200 and o["t0"] > t}


# ---- the checks: pure functions of the history

def answers_by_sid(ops):
    out = {}
    for op in ops:
        if op.get("status") == 200:
            out.setdefault(op["sid"], []).append(op)
    return out


def violation(kind, sid, detail, ops):
    return {"kind": kind, "sid": sid, "detail": detail, "ops": sorted(ops, key=lambda o: o["t0"])}


def _ended_before(answers, key):
    """For the answers of one session sorted by t1: (ends, running max of key,
    the op holding it), to find the highest key among answers that ended
    before a given time."""
    ends, best, who = [], [], []
    for op in sorted(answers, key=lambda o: o["t1"]):
        ends.append(op["t1"])
        if best and best[-1] >= op[key]:
            best.append(best[-1])
            who.append(who[-1])
        else:
            best.append(op[key])
            who.append(op)
    return ends, best, who


def check_one_owner_per_epoch(ops):
    """(a) One (owner, pid) per epoch of a session. Answers without an epoch:
    a session leaves a worker process only when that process stops, so each
    (owner, pid) answers in one unbroken run, in start order."""
    out = []
    for sid, answers in answers_by_sid(ops).items():
        with_epoch = [op for op in answers if op["epoch"] is not None]
        by_epoch = {}
        for op in with_epoch:
            by_epoch.setdefault(op["epoch"], {}).setdefault((op["owner"], op["pid"]), op)
        for epoch, owners in sorted(by_epoch.items()):
            if len(owners) > 1:
                out.append(violation("two_owners_one_epoch", sid, "epoch %d answered by %s" % (
                    epoch, ", ".join("%s/%d" % k for k in sorted(owners))), list(owners.values())))
        runs, prev = {}, None
        for op in sorted((op for op in answers if op["epoch"] is None), key=lambda o: o["t0"]):
            who = (op["owner"], op["pid"])
            if who != (prev and (prev["owner"], prev["pid"])):
                if who in runs:
                    out.append(violation("owner_came_back", sid, "%s/%d answered again after %s/%d" % (
                        who + (prev["owner"], prev["pid"])), [runs[who], prev, op]))
                runs[who] = op
            prev = op
    return out


def check_epochs_go_up(ops):
    """(b) No answer from epoch e that started after an answer from a higher
    epoch had ended."""
    out = []
    for sid, answers in answers_by_sid(ops).items():
        answers = [op for op in answers if op["epoch"] is not None]
        ends, best, who = _ended_before(answers, "epoch")
        for op in answers:
            k = bisect.bisect_left(ends, op["t0"])
            if k and best[k - 1] > op["epoch"]:
                out.append(violation("epoch_went_back", sid, "epoch %d after epoch %d had answered" % (
                    op["epoch"], best[k - 1]), [who[k - 1], op]))
    return out


def recovery_points(answers, faults, slack=EXPLAIN_SLACK_S):
    """The answers of one session (sorted by t0) at which it was restored
    from a checkpoint: start reason "recovered", an epoch higher than every
    epoch answered before, and an ending fault (ENDING_FAULTS) acting on the
    previous answer's owner near the change (a drain or a restart hands a
    session over: its reason stays "recovered" then, but nothing rolls back)."""
    out, top = [], None
    for prev, op in zip([None] + answers[:-1], answers):
        if (prev is not None and op["reason"] == "recovered" and op["epoch"] is not None and top is not None
                and op["epoch"] > top and fault_near(faults, prev["t1"], op["t1"], slack, owner=prev["owner"])):
            out.append(op)
        if op["epoch"] is not None:
            top = op["epoch"] if top is None else max(top, op["epoch"])
    return out


def _counter_in(sid, answers):
    """Repeats and steps back within answers (one incarnation of a session)."""
    out, seen = [], {}
    for op in answers:
        if op["n"] in seen:
            out.append(violation("counter_repeated", sid, "n=%d answered twice" % op["n"], [seen[op["n"]], op]))
        seen.setdefault(op["n"], op)
    ends, best, who = _ended_before(answers, "n")
    for op in answers:
        k = bisect.bisect_left(ends, op["t0"])
        if k and best[k - 1] > op["n"]:
            out.append(violation("counter_went_back", sid, "n=%d after n=%d" % (op["n"], best[k - 1]),
                                 [who[k - 1], op]))
    return out


def check_counter(ops, faults=()):
    """(c) Within one session id the counter never repeats, and an answer
    that started after another ended has a higher n (a failed request may
    have counted: gaps are allowed). Except at a recovery (recovery_points):
    a session restored from its last checkpoint may step back by up to one
    checkpoint interval, so from there on it is a new incarnation, checked
    on its own; its first n must be at least the lowest n answered at the
    highest epoch before it (the checkpoint is that owner's, taken after a
    request it served), else "recovered_too_far_back" (e.g. a stale
    epoch's checkpoint restored)."""
    out = []
    for sid, answers in answers_by_sid(ops).items():
        answers = sorted(answers, key=lambda o: o["t0"])
        starts = {id(op) for op in recovery_points(answers, list(faults))}
        run = []
        for op in answers:
            if id(op) in starts:
                out += _counter_in(sid, run)
                top = max(o["epoch"] for o in run if o["epoch"] is not None)
                floor = min([o for o in run if o["epoch"] == top], key=lambda o: o["n"])
                if op["n"] < floor["n"]:
                    out.append(violation("recovered_too_far_back", sid, "recovered at n=%d, below n=%d of epoch %d"
                                         % (op["n"], floor["n"], top), [floor, op]))
                run = []
            run.append(op)
        out += _counter_in(sid, run)
    return out


def fault_near(faults, t0, t1, slack=EXPLAIN_SLACK_S, owner=None):
    """The first fault acting within slack of [t0, t1]; with owner, only one
    that may end a session of that owner (a route, or its host)."""
    for f in faults:
        if owner is not None and (f["kind"] not in ENDING_FAULTS or
                                  not (owner == f["target"] or owner.startswith(f["target"] + "-"))):
            continue
        if f["t0"] - slack <= t1 and t0 <= f["t1"] + slack:
            return f
    return None


def check_session_changes(ops, faults, slack=EXPLAIN_SLACK_S):
    """(d) Every session a client lost is explained: the new session's start
    reason is one a client with a cookie may get (lost, expired, invalid):
    else "unexplained_end"; and a fault that may end it (ENDING_FAULTS) acted
    on its owner near the change: else "end_without_fault" (its owner was
    neither gone nor silent, yet a new session replaced it). A client that dropped its cookie on purpose (op "fresh") starts
    a "new" one. A session id answers one client only, with one start
    reason, which may change only to "recovered" (restored from a
    checkpoint, at a higher epoch, its owner hit by an ending fault near the
    change: else "recovered_without_fault") and then stays so; and a client
    never goes back to a session it left."""
    out = []
    first_client, reasons, prev_of = {}, {}, {}
    for op in sorted((op for op in ops if op.get("status") == 200), key=lambda o: o["t0"]):
        prev = prev_of.get(op["sid"], op)
        prev_of[op["sid"]] = op
        c0 = first_client.setdefault(op["sid"], op)
        if c0["c"] != op["c"]:
            out.append(violation("session_shared", op["sid"], "clients %d and %d" % (c0["c"], op["c"]), [c0, op]))
        r0 = reasons.setdefault(op["sid"], op)
        if r0["reason"] != op["reason"]:
            if op["reason"] != "recovered":
                out.append(violation("reason_changed", op["sid"], "%s then %s" % (r0["reason"], op["reason"]),
                                     [r0, op]))
            elif not recovery_points([prev, op], faults, slack):
                out.append(violation("recovered_without_fault", op["sid"], "%s then recovered" % r0["reason"],
                                     [prev, op]))
            reasons[op["sid"]] = op
    by_client = {}
    for op in ops:
        by_client.setdefault(op["c"], []).append(op)
    for c, seq in by_client.items():
        seq.sort(key=lambda o: o["t0"])
        last, left = None, set()
        for op in seq:
            if op.get("status") != 200:
                continue
            if last is not None and op["sid"] != last["sid"]:
                left.add(last["sid"])
                if op["sid"] in left:
                    out.append(violation("session_came_back", op["sid"], "client %d" % c, [last, op]))
                elif op.get("fresh"):
                    if op["reason"] != "new":
                        out.append(violation("unexplained_start", op["sid"], "client %d sent no cookie, got %r" % (
                            c, op["reason"]), [last, op]))
                elif op["reason"] not in ENDED_REASONS:
                    out.append(violation("unexplained_end", last["sid"], "client %d: new session %s says %r" % (
                        c, op["sid"], op["reason"]), [last, op]))
                elif fault_near(faults, last["t1"], op["t1"], slack, owner=last["owner"]) is None:
                    out.append(violation("end_without_fault", last["sid"], "client %d: new session %s (%s) while "
                                         "no fault that ends sessions acted on %s" % (c, op["sid"], op["reason"],
                                                                                     last["owner"]), [last, op]))
            last = op
    return out


def check(ops, faults):
    """Every violation the history shows, each with the ops that prove it."""
    return (check_one_owner_per_epoch(ops) + check_epochs_go_up(ops) + check_counter(ops, faults)
            + check_session_changes(ops, faults))


# ---- figures and the report

def figures(ops, faults, violations):
    statuses, changes = {}, {}
    for op in ops:
        statuses[str(op.get("status"))] = statuses.get(str(op.get("status")), 0) + 1
    by_client = {}
    for op in sorted((o for o in ops if o.get("status") == 200), key=lambda o: o["t0"]):
        prev = by_client.get(op["c"])
        if prev is not None and prev != op["sid"]:
            key = "fresh" if op.get("fresh") else op["reason"]
            changes[key] = changes.get(key, 0) + 1
        by_client[op["c"]] = op["sid"]
    kinds, fault_kinds = {}, {}
    for v in violations:
        kinds[v["kind"]] = kinds.get(v["kind"], 0) + 1
    for f in faults:
        fault_kinds[f["kind"]] = fault_kinds.get(f["kind"], 0) + 1
    answers = answers_by_sid(ops)
    return {"sessions": len(answers), "requests": len(ops), "statuses": statuses, "session_changes": changes,
            "moves": sum(len({(o["owner"], o["pid"]) for o in a}) - 1 for a in answers.values()),
            "recoveries": sum(len(recovery_points(sorted(a, key=lambda o: o["t0"]), faults)) for a in answers.values()),
            "with_epoch": sum(1 for o in ops if o.get("epoch") is not None),
            "max_epoch": max([o["epoch"] for o in ops if o.get("epoch") is not None] or [0]),
            "faults": fault_kinds, "violations": kinds}


def format_op(op, origin=0.0):
    line = "c%d %8.3f-%8.3f %-6s" % (op["c"], op["t0"] - origin, op["t1"] - origin, op["status"])
    if op.get("status") == 200:
        line += " sid=%s n=%d %s/%d epoch=%s reason=%s" % (op["sid"], op["n"], op["owner"], op["pid"],
                                                          op["epoch"], op["reason"])
    return line + (" held=%s" % op["held"] if op.get("held") else "")


def format_report(ops, faults, violations, origin=0.0, limit=10):
    f = figures(ops, faults, violations)
    lines = ["ownership checker: %(sessions)d sessions, %(requests)d requests, %(moves)d moves "
             "(%(recoveries)d recoveries), "
             "%(with_epoch)d answers with an epoch (highest %(max_epoch)d)" % f,
             "  statuses %s; session changes by reason %s" % (f["statuses"], f["session_changes"]),
             "  faults %s; violations %s" % (f["faults"], f["violations"] or "none")]
    for fa in faults:
        lines.append("  fault %-12s %-8s %8.3f-%8.3f" % (fa["kind"], fa["target"], fa["t0"] - origin, fa["t1"] - origin))
    for v in violations[:limit]:
        lines.append("VIOLATION %s session %s: %s" % (v["kind"], v["sid"], v["detail"]))
        t0, t1 = v["ops"][0]["t0"], v["ops"][-1]["t1"]
        near = [f for f in faults if f["t0"] - EXPLAIN_SLACK_S <= t1 and t0 <= f["t1"] + EXPLAIN_SLACK_S]
        lines += ["  near: fault %s %s %.3f-%.3f" % (f["kind"], f["target"], f["t0"] - origin, f["t1"] - origin)
                  for f in near]
        lines += ["    " + format_op(op, origin) for op in v["ops"]]
    return "\n".join(lines)
