"""Workflows end to end (issue 7): real redis-server, tetherd workers, nginx,
the demo step controllers, and a Python step server on loopback."""
import concurrent.futures
import http.client
import json
import os
import signal
import subprocess
import time
import unittest

from common import Cluster, build_dir, free_port, redis_cli, stop_pid, wait_until, worker_status
from stepserver import StepServer

FINAL = ("done", "failed", "cancelled")


def post_json(port, path, body, method="POST"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        raw = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), raw
    finally:
        conn.close()


def statuses(cluster, name, tickets):
    """status.current of each ticket, in one redis-cli call."""
    cmds = "".join("HGET tether:wf:%s:ticket:%s status.current\n" % (name, t) for t in tickets)
    out = subprocess.run(["redis-cli", "-p", str(cluster.redis_port)], input=cmds, capture_output=True,
                         text=True, timeout=60).stdout.split("\n")
    return dict(zip(tickets, out))


def steps(body, path, count):
    return body


def quick(body, path, count):
    return 200, {"name": "quick", "data": {"key": body.get("key")}}


def flaky(body, path, count):
    if count <= 2:
        return 500, {"error": "failing on purpose, call %d" % count}
    return 200, {"name": "flaky", "data": {"calls": count}}


def slow(body, path, count):
    time.sleep(1.0)  # longer than the workflow's step timeout: this step always times out
    return 200, {"name": "slow"}


def loop(body, path, count):
    return 200, {"name": "loop", "next": [{"name": "loop", "url": body["url"]}]}


def bad(body, path, count):
    return 200, "this is not JSON"


def chain(body, path, count):
    time.sleep(0.1)  # stands for a step's own work, so tickets are mid-run when a worker is killed
    if path.startswith("/chain/1"):
        return 200, {"name": "one", "next": [{"name": "two", "url": body["data"]["url2"]}]}
    return 200, {"name": "two", "data": {"finished_key": body["key"]}}


class WorkflowApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.steps = StepServer({"quick": quick, "flaky": flaky, "slow": slow, "loop": loop, "bad": bad}).start()
        s = cls.steps
        cls.c = Cluster(workers=2)
        cls.c.config_extra = {"workflows": {
            "demo": {"start_point_url": cls.c.url("/demo/steps/start?key={key}")},
            "quick": {"start_point_url": s.url("/quick?key={key}"), "max_body_bytes": 4096, "concurrency": 16},
            "flaky": {"start_point_url": s.url("/flaky"), "retries": 2, "backoff_ms": 10},
            "slow": {"start_point_url": s.url("/slow"), "step_timeout_ms": 200, "retries": 1, "backoff_ms": 10},
            "loop": {"start_point_url": s.url("/loop"), "max_depth": 5},
            "bad": {"start_point_url": s.url("/bad"), "retries": 0},
        }}
        cls.c.start()

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()
        cls.steps.stop()

    def start_ticket(self, name, key, data=None):
        status, headers, raw = post_json(self.c.port, "/api/workflow/%s/start" % name, {"key": key, "data": data})
        self.assertEqual(status, 201, raw)
        body = json.loads(raw)
        self.assertEqual(headers["location"], "/api/workflow/%s/ticket/%s" % (name, body["ticket"]))
        return body["ticket"]

    def ticket(self, name, ticket):
        status, _, raw = post_json(self.c.port, "/api/workflow/%s/ticket/%s" % (name, ticket), None, "GET")
        self.assertEqual(status, 200, raw)
        return json.loads(raw)

    def wait_final(self, name, ticket, timeout=30):
        wait_until(lambda: self.ticket(name, ticket)["status"] in FINAL, timeout, "ticket %s to finish" % ticket)
        return self.ticket(name, ticket)

    def test_demo_fan_out_completes_with_every_step_recorded(self):
        t = self.start_ticket("demo", "cat.jpg", {"owner": "ann"})
        j = self.wait_final("demo", t)
        self.assertEqual(j["status"], "done", j)
        self.assertEqual([s["name"] for s in j["steps"]], ["fetch", "resize", "thumbnail", "publish"])
        self.assertTrue(all(s["status"] == "done" for s in j["steps"]))
        self.assertEqual([s["depth"] for s in j["steps"]], [1, 2, 2, 3])
        self.assertEqual(j["steps"][3]["data"]["url"], "/images/cat.jpg")
        for state in ("enqueued", "dispatched", "running", "done"):
            self.assertIn(state, j["times"])
        h = redis_cli(self.c, "HGETALL", "tether:wf:demo:ticket:" + t).split("\n")
        fields = dict(zip(h[0::2], h[1::2]))
        self.assertEqual(fields["payload.key"], "cat.jpg")
        self.assertEqual(json.loads(fields["payload.data"]), {"owner": "ann"})
        self.assertEqual(fields["status.current"], "done")
        self.assertEqual(fields["steps"], "4")
        for i, name in enumerate(["fetch", "resize", "thumbnail", "publish"]):
            self.assertEqual(fields["step.%d.name" % i], name)
            self.assertEqual(fields["step.%d.status" % i], "done")

    def test_unknown_workflow_and_bad_starts(self):
        port = self.c.port
        status, headers, raw = post_json(port, "/api/workflow/nope/start", {"key": "k"})
        self.assertEqual(status, 404)
        self.assertIn("nope", json.loads(raw)["error"])
        self.assertEqual(headers["content-type"], "application/json")
        for body, want in ((b"", "JSON body"), (b"{not json", "not valid JSON"), ([1, 2], "object"),
                           ({"data": 1}, "'key'"), ({"key": 7}, "'key'"), ({"key": ""}, "'key'")):
            status, _, raw = post_json(port, "/api/workflow/quick/start", body)
            self.assertEqual(status, 400, (body, raw))
            self.assertIn(want, json.loads(raw)["error"])
        status, _, raw = post_json(port, "/api/workflow/quick/start", {"key": "k", "data": "x" * 5000})
        self.assertEqual(status, 413, raw)
        self.assertIn("4096", json.loads(raw)["error"])
        status, _, raw = post_json(port, "/api/workflow/quick/ticket/not-a-uuid", None, "GET")
        self.assertEqual(status, 400, raw)
        status, _, raw = post_json(port, "/api/workflow/quick/ticket/00000000-0000-4000-8000-000000000000", None, "GET")
        self.assertEqual(status, 404, raw)
        status, headers, raw = post_json(port, "/api/workflow/quick/start", None, "GET")
        self.assertEqual(status, 405, raw)
        self.assertEqual(headers["allow"], "POST")
        self.assertEqual(redis_cli(self.c, "LLEN", "tether:wf:nope:queue:incoming").strip(), "0")

    def test_step_that_fails_twice_then_succeeds(self):
        t = self.start_ticket("flaky", "f1")
        j = self.wait_final("flaky", t)
        self.assertEqual(j["status"], "done", j)
        self.assertEqual(j["steps"][0]["attempts"], 3)
        self.assertEqual(j["steps"][0]["data"], {"calls": 3})
        self.assertEqual(self.steps.count("flaky", "f1"), 3)

    def test_step_that_always_times_out_fails_only_its_ticket(self):
        slow_t = self.start_ticket("slow", "s1")
        others = [self.start_ticket("quick", "beside-slow-%d" % i) for i in range(10)]
        j = self.wait_final("slow", slow_t)
        self.assertEqual(j["status"], "failed", j)
        self.assertIn("timeout", j["error"].lower())
        self.assertEqual(j["steps"][0]["status"], "failed")
        self.assertEqual(j["steps"][0]["attempts"], 2)
        self.assertIn("failed", j["times"])
        for t in others:
            self.assertEqual(self.wait_final("quick", t)["status"], "done")

    def test_cycle_ends_at_max_depth(self):
        j = self.wait_final("loop", self.start_ticket("loop", "l1"))
        self.assertEqual(j["status"], "failed", j)
        self.assertIn("max_depth 5", j["error"])
        self.assertEqual(len(j["steps"]), 5)

    def test_bad_json_answer_fails_and_tetherctl_retries_it(self):
        t = self.start_ticket("bad", "b1")
        j = self.wait_final("bad", t)
        self.assertEqual(j["status"], "failed")
        self.assertIn("not JSON", j["error"])
        ctl = [os.path.join(build_dir(), "bin", "tetherctl"), "--config", self.c.config_path]
        out = subprocess.run(ctl + ["workflow", "show", t], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["status"], "failed")
        out = subprocess.run(ctl + ["workflow", "retry", t], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr + out.stdout)
        wait_until(lambda: self.ticket("bad", t)["runs"] == 2 and self.ticket("bad", t)["status"] == "failed", 30,
                   "the retried ticket to run again")
        out = subprocess.run(ctl + ["workflow", "retry", self.start_ticket("slow", "s-retry")], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 1, out.stdout)  # not failed (yet): refused
        out = subprocess.run(ctl + ["--json", "workflow", "list"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertGreaterEqual(json.loads(out.stdout)["bad"]["tickets"]["failed"], 1)
        out = subprocess.run(ctl + ["workflow", "show", "00000000-0000-4000-8000-000000000000"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn("no ticket", out.stderr)

    def test_cancel(self):
        t = self.start_ticket("slow", "to-cancel")
        status, _, raw = post_json(self.c.port, "/api/workflow/slow/ticket/" + t, None, "DELETE")
        self.assertEqual(status, 200, raw)
        self.assertEqual(self.ticket("slow", t)["status"], "cancelled")
        status, _, raw = post_json(self.c.port, "/api/workflow/slow/ticket/" + t, None, "DELETE")
        self.assertEqual(status, 409, raw)
        wait_until(lambda: redis_cli(self.c, "EXISTS", "tether:wf:slow:lease:" + t).strip() == "0", 10,
                   "the cancelled ticket's lease to go")
        self.assertEqual(self.ticket("slow", t)["status"], "cancelled")

    def test_thousand_tickets_started_at_once_all_finish(self):
        def start_many(lo, hi):
            conn = http.client.HTTPConnection("127.0.0.1", self.c.port, timeout=30)
            out = []
            for i in range(lo, hi):
                conn.request("POST", "/api/workflow/quick/start", body=json.dumps({"key": "k%d" % i}))
                r = conn.getresponse()
                out.append((r.status, json.loads(r.read()).get("ticket")))
            conn.close()
            return out
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = [x for f in [pool.submit(start_many, i, i + 125) for i in range(0, 1000, 125)] for x in f.result()]
        self.assertEqual([s for s, _ in results], [201] * 1000)
        tickets = [t for _, t in results]
        self.assertEqual(len(set(tickets)), 1000)
        wait_until(lambda: all(v == "done" for v in statuses(self.c, "quick", tickets).values()), 120,
                   "1000 tickets to finish")
        self.assertEqual(sum(self.steps.count("quick", "k%d" % i) for i in range(1000)), 1000)
        figures = [worker_status(self.c, n)["workflows"] for n in range(2)]
        self.assertGreaterEqual(sum(f["done"] for f in figures), 1000)
        self.assertGreaterEqual(sum(f["started"] for f in figures), 1000)


class WorkflowConfig(unittest.TestCase):
    def check(self, workflows, redis=True):
        c = Cluster(workers=1, redis=redis, nginx=False)
        try:
            c.config_extra = {"workflows": workflows}
            if not redis:
                c.redis_port = None
            c.write_config()
            return subprocess.run([c.tetherd, "--config", c.config_path, "--check-config"], capture_output=True,
                                  text=True, timeout=30)
        finally:
            c.stop()

    def test_bad_definitions_are_refused_naming_the_field(self):
        r = self.check({"w": {"start_point_url": "http://127.0.0.1:1/s", "retries": "two"}})
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("field 'workflows.w.retries'", r.stderr)
        r = self.check({"w": {"start_point_url": "http://127.0.0.1:1/s"}}, redis=False)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("'workflows'", r.stderr)
        self.assertIn("redis", r.stderr)
        r = self.check({"w": {"start_point_url": "http://127.0.0.1:1/s"}})
        self.assertEqual(r.returncode, 0, r.stderr)


class WorkflowWorkerDeath(unittest.TestCase):
    def test_kill_9_a_worker_while_tickets_run(self):
        steps = StepServer({"chain": chain}).start()
        c = Cluster(workers=3)
        c.config_extra = {"workflows": {"chain": {"start_point_url": steps.url("/chain/1"), "concurrency": 4,
                                                  "lease_ms": 600}}}
        try:
            c.start()
            tickets = []
            for i in range(40):
                status, _, raw = post_json(c.port, "/api/workflow/chain/start",
                                           {"key": "c%d" % i, "data": {"url2": steps.url("/chain/2")}})
                self.assertEqual(status, 201, raw)
                tickets.append(json.loads(raw)["ticket"])
            wait_until(lambda: worker_status(c, 1)["workflows"]["running"] > 0, 30, "worker 1 to run tickets")
            c.workers[1].send_signal(signal.SIGKILL)
            c.workers[1].wait(10)
            wait_until(lambda: all(v in ("done", "failed") for v in statuses(c, "chain", tickets).values()), 90,
                       "every ticket to end after the kill")
            requeued = 0
            for t in tickets:
                h = redis_cli(c, "HMGET", "tether:wf:chain:ticket:" + t, "finished", "requeued").split("\n")
                self.assertEqual(h[0], "1", "ticket %s finished %s times" % (t, h[0]))
                requeued += int(h[1] or 0)
            self.assertGreaterEqual(requeued, 1, "the killed worker's tickets went back to the queue")
            self.assertEqual(redis_cli(c, "LLEN", "tether:wf:chain:queue:processing").strip(), "0")
            self.assertEqual(redis_cli(c, "LLEN", "tether:wf:chain:queue:incoming").strip(), "0")
            self.assertEqual(redis_cli(c, "--scan", "--pattern", "tether:wf:chain:lease:*").strip(), "")
        finally:
            c.stop()
            steps.stop()


class WorkflowReplication(unittest.TestCase):
    """min_replicas_ack 1 (issue 21's failover flake): a ticket whose take no
    replica confirmed is handed back before its step is called, so a
    failover in that instant cannot run the step twice; once a replica
    attaches, the ticket runs, once."""

    def test_a_ticket_runs_only_once_a_replica_has_its_lease(self):
        steps = StepServer({"quick": quick}).start()
        self.addCleanup(steps.stop)
        c = Cluster(workers=1)
        c.config_extra = {"workflows": {"quick": {
            "start_point_url": steps.url("/quick?key={key}"), "min_replicas_ack": 1, "replicas_ack_timeout_ms": 100}}}
        self.addCleanup(c.stop)
        c.start()
        status, _, raw = post_json(c.port, "/api/workflow/quick/start", {"key": "rep-1"})
        self.assertEqual(status, 201, raw)  # answered all the same, counted
        ticket = json.loads(raw)["ticket"]
        short = lambda: worker_status(c, 0)["workflows"]["replica_waits_short"]
        wait_until(lambda: short() >= 4, 30, "the start's WAIT and three takes handed back for want of a replica")
        self.assertEqual(steps.count("quick", "rep-1"), 0, "no step call while no replica has the lease")
        self.assertEqual(worker_status(c, 0)["workflows"]["taken"], 0)
        self.assertIn("workflow_replicas_behind", c.log(0))

        replica_port = free_port()
        replica = subprocess.Popen(
            ["redis-server", "--port", str(replica_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--replicaof", "127.0.0.1", str(c.redis_port), "--dir", c.workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(stop_pid, replica.pid)
        wait_until(lambda: "connected_slaves:1" in redis_cli(c, "INFO", "replication"), 30, "the replica to attach")
        wait_until(lambda: json.loads(post_json(c.port, "/api/workflow/quick/ticket/" + ticket, None, "GET")[2])
                   ["status"] in FINAL, 30, "the ticket to finish once a replica confirms its take")
        _, _, raw = post_json(c.port, "/api/workflow/quick/ticket/" + ticket, None, "GET")
        self.assertEqual(json.loads(raw)["status"], "done", raw)
        self.assertEqual(steps.count("quick", "rep-1"), 1, "the step ran once")


if __name__ == "__main__":
    unittest.main()
