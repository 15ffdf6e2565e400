#!/usr/bin/env python3
"""Counts individual test cases from meson's JUnit log (gtest cases included)
and prints the one summary line CI reads last: "N passed, M failed" (skipped
cases are counted on the line before it).

meson's JSON log (testlog.json, next to the JUnit one) says how each suite
ended: one that timed out or crashed before gtest wrote its report has no
failed case in the JUnit log, and counts as one failure here."""
import json
import os
import sys
import xml.etree.ElementTree as ET

BAD = ("FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS")


def suites_that_did_not_finish(json_path):
    """meson test names whose result is TIMEOUT or ERROR, and those that
    FAILed, from testlog.json; (None, None) when it cannot be read."""
    try:
        with open(json_path, encoding="utf-8") as f:
            results = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        print(f"test-summary: cannot read {json_path}: {e}", file=sys.stderr)
        return None, None
    broken = [r["name"] for r in results if r.get("result") in ("TIMEOUT", "ERROR")]
    failed = [r["name"] for r in results if r.get("result") in BAD]
    return broken, failed


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
    broken, bad = suites_that_did_not_finish(os.path.join(os.path.dirname(path), "testlog.json"))
    if broken is None:
        failed += 1  # cannot tell how the suites ended: do not call it a pass
    else:
        for name in broken:
            print(f"FAILED: {name} (timed out or crashed before its report)", file=sys.stderr)
        failed += len(broken)
        # A suite meson failed with no failed case to show for it.
        if bad and failed == 0:
            for name in bad:
                print(f"FAILED: {name}", file=sys.stderr)
            failed = len(bad)
    print(f"{skipped} skipped")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
