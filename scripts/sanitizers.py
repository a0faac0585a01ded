"""Sanitizer reports in worker logs (scripts/cluster.py). A worker built with
SANITIZER=address|thread writes its reports to its log, and supervisord may
restart it afterwards: Cluster.stop() calls keep_reports() so that a report
fails the test whose cluster it came from."""
import os
import re

# What ASan, LSan, TSan and UBSan print first in a report.
REPORT = re.compile(r"(ERROR|WARNING): (Address|Leak|Thread|UndefinedBehavior)Sanitizer|runtime error: ")


def find_reports(logs_dir):
    """{log file name: the report's start} for each log in logs_dir holding one."""
    found = {}
    for name in sorted(os.listdir(logs_dir)) if os.path.isdir(logs_dir) else []:
        with open(os.path.join(logs_dir, name), errors="replace") as f:
            text = f.read()
        m = REPORT.search(text)
        if m:
            found[name] = text[max(0, m.start() - 100):m.start() + 6000]
    return found


def keep_reports(logs_dir, keep_dir, prefix):
    """Copies each report found in logs_dir to keep_dir/<prefix>-<log name>; returns them."""
    found = find_reports(logs_dir)
    if found:
        os.makedirs(keep_dir, exist_ok=True)
        for name, text in found.items():
            with open(os.path.join(keep_dir, prefix + "-" + name), "w") as f:
                f.write(text)
    return found
