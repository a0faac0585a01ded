#!/usr/bin/env python3
"""Runs every tests/integration/test_*.py with unittest and ends with a plain
'integration: N passed, N failed, N skipped' line. Exit 1 on any failure.
  run.py [pattern]   only test modules whose name contains pattern"""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    pattern = sys.argv[1] if len(sys.argv) > 1 else ""
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name in sorted(os.listdir(HERE)):
        if name.startswith("test_") and name.endswith(".py") and pattern in name:
            suite.addTests(loader.loadTestsFromName(name[:-3]))
    start = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = max(0, result.testsRun - failed - skipped)  # errors in setUpClass are not in testsRun
    print("integration: %d passed, %d failed, %d skipped (%.0f s)" % (passed, failed, skipped,
                                                                     time.monotonic() - start))
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
