#!/usr/bin/env python3
"""Counts individual test cases from meson's JUnit log (gtest cases included)
and prints the one summary line CI reads: "N passed, M failed, K skipped"."""
import sys
import xml.etree.ElementTree as ET

def main(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"test-summary: cannot read {path}: {e}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            print(f"FAILED: {case.get('classname')}.{case.get('name')}", file=sys.stderr)
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    # A suite that crashed before reporting shows as a failed suite.
    for suite in root.iter("testsuite"):
        if int(suite.get("errors", 0) or 0) and not list(suite.iter("testcase")):
            failed += 1
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
