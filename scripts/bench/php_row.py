"""The PHP-FPM + Redis session row of `make bench` (bench.py): writes the
counter script and a pool configuration into the run's directory, starts
php-fpm on a unix socket and waits until it accepts. Called from bench.py's
one thread; the caller stops the returned process by pid.
"""
import os
import subprocess

import benchlib as B
from cluster import stop_pid, wait_until, can_connect

COUNTER_PHP = """<?php
// The PHP-FPM row: the same counter as tether's /t/count, state in Redis.
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
header('Content-Type: application/json');
echo json_encode(['n' => $_SESSION['n'], 'session' => session_id(), 'pid' => getmypid()]);
"""


def start(wd, redis_port, children):
    """php-fpm in the foreground (pm=static, `children` workers, sessions in the
    Redis at redis_port) on <wd>/php/php.sock, serving counter.php; its Popen."""
    d = os.path.join(wd, "php")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "counter.php"), "w") as f:
        f.write(COUNTER_PHP)
    user = "user = root\ngroup = root\n" if os.geteuid() == 0 else ""
    conf = ("[global]\npid = {d}/php-fpm.pid\nerror_log = {d}/php-fpm.log\ndaemonize = no\nlog_level = warning\n"
            "[bench]\n{user}listen = {d}/php.sock\nlisten.mode = 0666\nlisten.backlog = 1024\n"
            "pm = static\npm.max_children = {n}\npm.max_requests = 0\n"
            "php_admin_value[session.save_handler] = redis\n"
            "php_admin_value[session.save_path] = \"tcp://127.0.0.1:{port}\"\n"
            "php_admin_value[session.gc_probability] = 0\n").format(d=d, user=user, n=children, port=redis_port)
    path = os.path.join(d, "php-fpm.conf")
    with open(path, "w") as f:
        f.write(conf)
    cmd = [B.php_fpm_binary(), "-F", "-y", path] + (["-R"] if os.geteuid() == 0 else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "stderr.log"), "ab"))
    try:
        wait_until(lambda: proc.poll() is None and can_connect("unix:%s/php.sock" % d), 15,
                   "php-fpm on %s/php.sock (see %s/php-fpm.log)" % (d, d))
    except Exception:
        stop_pid(proc)
        raise
    return proc
