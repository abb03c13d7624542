"""Runs every integration test module here against $POSTRIDER_BIN and exits non-zero on
any failure. Prints a closing 'N passed, N failed' line."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    if not os.environ.get("POSTRIDER_BIN"):
        print("POSTRIDER_BIN is not set", file=sys.stderr)
        return 2
    pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
    suite = unittest.defaultTestLoader.discover(HERE, pattern=pattern)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = max(0, result.testsRun - failed - len(result.skipped))
    print(f"{os.path.basename(os.environ['POSTRIDER_BIN'])}: {passed} passed, {failed} failed")
    if result.testsRun == 0:
        return 1
    return 0 if result.wasSuccessful() and not result.skipped else 1


if __name__ == "__main__":
    sys.exit(main())
