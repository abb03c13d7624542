"""What the Python interop tests share: waiting for a condition, and running one test
case once per postrider binary."""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "benches"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402


def wait_for(what, check, timeout=60):
    """Polls `check` until it is true; fails naming `what` after `timeout` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def run_for_binaries(case, script, label, binaries, needs_root=True):
    """Runs `case` against each binary in turn; 0 when all passed. Tests with a private
    Postfix need root (Postfix drops privileges) and say so when not run as root."""
    if needs_root and os.geteuid() != 0:
        print(f"NOT RUN: {script} needs root (Postfix drops privileges)")
        return 1
    for b in binaries:
        harness.BIN = os.path.abspath(b)
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
        if not unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful():
            return 1
        print(f"{os.path.basename(b)}: {label} passed")
    return 0
