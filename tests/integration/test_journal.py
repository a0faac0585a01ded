"""The journal with real redis-server, nginx and workers: 100,000 entries from
several sessions arrive exactly once and in order; kill -9 of a worker in the
middle of shipping loses and doubles nothing; entries appended while
redis-server is stopped arrive after it returns; a consumer killed mid-batch
has its entries processed again and then removed; the demo's notes feed the
"recently changed" list; a bad "journal" section is refused."""
import concurrent.futures
import json
import os
import signal
import subprocess
import tempfile
import unittest

from common import Client, Cluster, redis_cli, stop_pid, tetherctl, wait_until, worker_status


def append(client, domain, n, priority=50):
    status, _, body = client.request("/t/journal?domain=%s&n=%d&priority=%d" % (domain, n, priority))
    assert status == 200, body
    return json.loads(body)


def zcard(cluster, key):
    out = redis_cli(cluster, "ZCARD", key).strip()
    return int(out) if out else -1


def members(cluster, domain):
    """The list's members in order: (priority, key_start_date, source, seq)."""
    out = []
    for m in redis_cli(cluster, "ZRANGE", "tether:list:" + domain, 0, -1).split():
        prio, ksd, ident = m.split("|")
        src, seq = ident.rsplit(".", 1)
        out.append((int(prio), int(ksd), src, int(seq)))
    return out


def assert_exactly_once(test, ms, want_total, first_seq=1):
    """Every source's seqs are first_seq..N, each once, and the total is want_total."""
    by_src = {}
    for _, _, src, seq in ms:
        by_src.setdefault(src, []).append(seq)
    for src, seqs in by_src.items():
        test.assertEqual(sorted(seqs), list(range(first_seq, first_seq + len(seqs))),
                         "source %s lost or doubled entries" % src)
    test.assertEqual(len(ms), want_total)


def journal_cluster(**kw):
    journal = {"fsync": "batch"}
    journal.update(kw.pop("journal", {}))
    return Cluster(config={"journal": journal}, **kw)


class JournalTest(unittest.TestCase):
    def test_many_sessions_exactly_once_in_order(self):
        sessions, per_request, requests = 5, 1000, 20  # 100,000 entries
        with journal_cluster(workers=2) as c:
            clients = [Client(c.port) for _ in range(sessions)]

            def run(i):
                for _ in range(requests):
                    append(clients[i], "bulk", per_request, priority=10 if i % 2 else 50)
            with concurrent.futures.ThreadPoolExecutor(sessions) as pool:
                list(pool.map(run, range(sessions)))
            total = sessions * per_request * requests
            wait_until(lambda: zcard(c, "tether:list:bulk") == total, 90, "%d entries in Redis" % total)
            ms = members(c, "bulk")
            assert_exactly_once(self, ms, total)
            self.assertEqual(ms, sorted(ms), "the list is not ordered by priority, then time")
            # Each session's entries, in list order, carry its own count 0, 1, 2, ...
            raw = redis_cli(c, "HVALS", "tether:list:bulk:entries").split("\n")
            entries = sorted((json.loads(v) for v in raw if v), key=lambda e: (e["priority"], e["key_start_date"]))
            per_session = {}
            for e in entries:
                per_session.setdefault(e["fields"]["s"], []).append(e["fields"]["k"])
            self.assertEqual(len(per_session), sessions)
            for s, ks in per_session.items():
                self.assertEqual(ks, list(range(per_request * requests)), "session %s out of order" % s)
            st = [worker_status(c, n)["journal"] for n in range(2)]
            self.assertEqual(sum(s["appended"] for s in st), total)
            wait_until(lambda: all(worker_status(c, n)["journal"]["pending"] == 0 for n in range(2)), 10,
                       "nothing pending on disk")

    def test_kill9_mid_shipping_then_restart(self):
        # Small batches, so that shipping is still under way at the kill.
        with journal_cluster(workers=1, journal={"batch_max": 2}) as c:
            client = Client(c.port)
            total = 20000
            for _ in range(20):
                append(client, "k9", 1000)
            wait_until(lambda: zcard(c, "tether:list:k9") > 0, 30, "shipping to start")
            c.stop_worker(0, signal.SIGKILL)
            shipped_at_kill = zcard(c, "tether:list:k9")
            self.assertLess(shipped_at_kill, total, "shipping ended before the kill: the test proves nothing")
            c.start_worker(0)
            c.wait_worker(0)
            wait_until(lambda: zcard(c, "tether:list:k9") == total, 90, "every entry after the restart")
            assert_exactly_once(self, members(c, "k9"), total)
            self.assertEqual(len({src for _, _, src, _ in members(c, "k9")}), 1)

    def test_redis_stopped_during_appends(self):
        with journal_cluster(workers=1, journal={"backoff_max_ms": 200}) as c:
            clients = [Client(c.port) for _ in range(3)]
            for cl in clients:
                append(cl, "warm", 1)  # sessions exist before the outage
            wait_until(lambda: zcard(c, "tether:list:warm") == 3, 10, "warm-up entries")
            stop_pid(c.redis)
            for _ in range(5):
                for cl in clients:
                    append(cl, "outage", 200)
            wait_until(lambda: worker_status(c, 0)["journal"]["pending"] == 3000, 10, "3000 entries pending on disk")
            st = worker_status(c, 0)["journal"]
            self.assertFalse(st["redis_up"])
            self.assertGreater(st["oldest_unshipped_ms"], 0)
            c.start_redis()  # on the same port (it reloads its AOF: the warm-up entries)
            wait_until(lambda: zcard(c, "tether:list:outage") == 3000, 30, "entries after Redis returned")
            assert_exactly_once(self, members(c, "outage"), 3000, first_seq=4)  # 1-3: the warm-up
            log = c.log(0)
            self.assertEqual(log.count('"event":"journal_redis_down"'), 1, "one log line per outage")
            self.assertEqual(log.count('"event":"journal_redis_up"'), 1)

    def test_consumer_killed_mid_batch(self):
        with journal_cluster(workers=1) as c:
            append(Client(c.port), "c", 50)
            wait_until(lambda: zcard(c, "tether:list:c") == 50, 10, "50 entries shipped")
            out = os.path.join(c.workdir, "processed.log")
            # The handler records each entry; on the 10th it hangs, and the consumer is killed.
            hang = "cat >> %s; [ $(wc -l < %s) -lt 10 ] || sleep 60" % (out, out)
            tc = os.path.join(os.path.dirname(c.tetherd), "tetherctl")
            first = subprocess.Popen([tc, "--config", c.config_path, "journal", "consume", "--domain", "c",
                                      "--batch", "20", "--lease-ms", "1000", "--exec", hang],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                wait_until(lambda: os.path.exists(out) and open(out).read().count("\n") == 10, 20, "10 handled")
            finally:
                os.killpg(first.pid, signal.SIGKILL)  # the consumer and its hanging handler
                first.wait()
            self.assertEqual(zcard(c, "tether:list:c:leased"), 11, "the batch's unfinished entries stay leased")
            code, _, err = tetherctl(c, "journal", "consume", "--domain", "c", "--max", "41", "--exec", "cat >> " + out,
                                     timeout=60)
            self.assertEqual(code, 0, err)
            ids = [json.loads(line)["seq"] for line in open(out).read().splitlines()]
            self.assertEqual(ids.count(10), 2, "the entry in hand at the kill was processed again")
            self.assertEqual(sorted(set(ids)), list(range(1, 51)))
            self.assertEqual(len(ids), 51)
            for key in ("tether:list:c", "tether:list:c:leased"):
                self.assertEqual(zcard(c, key), 0, key)
            self.assertEqual(redis_cli(c, "HLEN", "tether:list:c:entries").strip(), "0")
            code, status_out, err = tetherctl(c, "--json", "journal", "status")
            self.assertEqual(code, 0, err)
            domains = {d["domain"]: d for d in json.loads(status_out)["domains"]}
            self.assertEqual(domains["c"]["waiting"], 0)

    def test_demo_notes_feed_recently_changed(self):
        with journal_cluster(workers=1) as c:
            cl = Client(c.port)
            status, _, _ = cl.request("/notes", method="POST", body="text=journal+me",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(status, 303)
            wait_until(lambda: zcard(c, "tether:list:notes") == 1, 10, "the note's entry in Redis")
            r = subprocess.run([os.path.join(os.path.dirname(c.tetherd), "notes-recent"), "--config",
                                c.config_path, "--once"], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            recent = [json.loads(x) for x in redis_cli(c, "LRANGE", "tether:demo:recent", 0, -1).split("\n") if x]
            self.assertEqual([(x["change"], x["text"]) for x in recent], [("added", "journal me")])
            self.assertEqual(zcard(c, "tether:list:notes"), 0)

    def test_bad_journal_section_is_refused(self):
        c = Cluster(workers=1, redis=False, config={"journal": {"fsync": "often"}})
        try:
            c.write_config()
            r = subprocess.run([c.tetherd, "--config", c.config_path, "--check-config"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 2)
            self.assertIn("field 'journal.fsync': expected \"always\", \"batch\" or \"none\"", r.stderr)
        finally:
            c.stop()


if __name__ == "__main__":
    unittest.main()
