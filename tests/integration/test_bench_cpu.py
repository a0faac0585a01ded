"""The bench's CPU accounting (scripts/bench/cpu.py, issue 19): reading
utime+stime and the parent from /proc/<pid>/stat (names with spaces and
parentheses), the difference of two samples (new, gone and reused pids), µs
per request over rounds, the table's cells and the CPU targets. No cluster:
plain data, plus this test's own process and one child of it."""
import os
import subprocess
import sys
import time
import types
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "scripts", "bench"))
import cpu  # noqa: E402

# /proc/<pid>/stat of a process named "a) b (c": ppid 77, utime 1234, stime 56
STAT = "4242 (a) b (c) S 77 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 3 0 5000 1000 200\n"


def row(requests, **cpu_us):
    return {"requests": requests, "cpu_us": cpu_us, "redis_per_req": 0.0}


class ParseTest(unittest.TestCase):
    def test_fields_are_counted_after_the_last_parenthesis(self):
        self.assertEqual(cpu.parse_stat(STAT), (77, 1290))

    def test_a_truncated_line_is_refused(self):
        with self.assertRaises((ValueError, IndexError)):
            cpu.parse_stat("4242 (x) S 77 1 2")
        self.assertIsNone(cpu.read_stat(2 ** 31))  # no such process

    def test_own_process_and_child(self):
        ppid, _ = cpu.read_stat(os.getpid())
        self.assertEqual(ppid, os.getppid())
        child = subprocess.Popen(["sleep", "60"])
        try:
            self.assertIn(child.pid, cpu.children(os.getpid()))
        finally:
            child.kill()
            child.wait()
        self.assertNotIn(child.pid, cpu.children(os.getpid()))

    def test_a_sample_sees_cpu_spent_by_the_process(self):
        me = types.SimpleNamespace(n=1, worker_pid=lambda n: os.getpid(), nginx=types.SimpleNamespace(pid=-1),
                                   redis=None)
        procs = cpu.Processes(me)
        before, t0 = procs.sample(), time.process_time()
        while time.process_time() - t0 < 0.2:  # bounded: ends after 0.2 s of CPU
            pass
        spent = cpu.spent_us(before, procs.sample())
        self.assertEqual(spent["nginx"], 0)
        self.assertEqual(spent["redis"], 0)
        tick = cpu.TICK_US
        self.assertGreaterEqual(spent["tetherd"], 0.2e6 - 2 * tick)
        self.assertLess(spent["tetherd"], 0.2e6 + 0.2e6)  # what the loop spent, and a little around it


class ArithmeticTest(unittest.TestCase):
    def test_difference_of_samples(self):
        before = {"nginx": {10: 100, 11: 50, 12: 500}, "tetherd": {20: 7}}
        after = {"nginx": {10: 130, 12: 5, 13: 4}, "tetherd": {20: 7}}  # 11 gone, 12 reused, 13 new
        spent = cpu.spent_us(before, after)
        self.assertAlmostEqual(spent["nginx"], (30 + 5 + 4) * cpu.TICK_US)
        self.assertEqual(spent["tetherd"], 0)

    def test_per_request_over_rounds(self):
        per = cpu.per_request([row(1000, tetherd=30000.0, nginx=10000.0), row(3000, tetherd=90000.0)])
        self.assertAlmostEqual(per["tetherd"], 30.0)
        self.assertAlmostEqual(per["nginx"], 2.5)
        self.assertEqual(cpu.per_request([row(0, tetherd=5.0)]), {})

    def test_cells_and_ratio(self):
        hello = {"cpu_per_req": {"fcgi_hello": 10.0, "nginx": 20.0, "redis": 0.1, "tetherd": 0.3}}
        routed = {"cpu_per_req": {"fcgi_hello": 0.0, "nginx": 21.0, "redis": 0.2, "tetherd": 35.0}}
        raw = cpu.raw_us({"hello": hello})
        self.assertEqual(raw, 10.0)
        self.assertEqual(cpu.columns("hello", hello, raw), ["-", "10.0", "20.0", "0.1", "1.00x"])
        self.assertEqual(cpu.columns("routed", routed, raw), ["35.0", "-", "21.0", "0.2", "3.50x"])
        self.assertEqual(cpu.columns("static", routed, raw)[-1], "-")
        self.assertEqual(cpu.columns("routed", routed, None)[-1], "-")

    def test_targets(self):
        res = {"hello": {"cpu_per_req": {"fcgi_hello": 10.0, "nginx": 20.0}, "redis_per_req": 0.0},
               "routed": {"cpu_per_req": {"tetherd": 14.0, "nginx": 23.0}, "redis_per_req": 0.0},
               "cached": {"cpu_per_req": {"tetherd": 12.0, "nginx": 21.0}, "redis_per_req": 0.0},
               "new": {"cpu_per_req": {"tetherd": 25.0, "nginx": 20.0}, "redis_per_req": 4.0},
               "forwarded": "n/a (forwarding not available)"}
        labels = {k: k for k in ("static", "hello", "stateless", "routed", "forwarded", "new", "cached")}
        lines = cpu.verdicts(res, labels)
        expect = {"stateless": "n/a", "routed": "PASS", "forwarded": "n/a", "new": "PASS", "cached": "MISS"}
        for (key, _), line in zip(cpu.TARGETS, lines):
            self.assertTrue(line.startswith("- " + expect[key]), line)
            self.assertIn(key, line)
        self.assertIn("- MISS Redis commands per new session: 4.00 (target <= 2.00)", lines)
        nginx = [ln for ln in lines if "nginx CPU" in ln]
        self.assertEqual([ln.split()[1] for ln in nginx], ["MISS", "PASS", "PASS"])  # routed 1.15x, new, cached


if __name__ == "__main__":
    unittest.main()
