"""Merges the per-case kosoku reports of a conformance run and summarizes them.

Usage: summary.py --out target/conformance [--label TEXT]

Reads, under --out (as run.sh leaves them):
  cases.txt    the selected case ids, in suite order
  status.tsv   one row per case: id, done|timeout|error, ms[, rc], or
               id, not-run, why;
               and rows id, crash, exit-status / id, hung for the server
  runs/ID/     kosoku's report for case ID (index.json, per-case JSON/HTML)

Writes report/index.json, report/index.html and one wshub_case_*.json and
.html per case (Autobahn's format and layout) and prints one line counting
the cases per behavior class, e.g.

  autobahn 1.*-10.*: 296 OK, 2 NON-STRICT, 3 INFORMATIONAL, 0 FAILED, 0 TIMEOUT

then every case that FAILED, timed out, errored or was not run, with its
description. A case's class is its worse verdict of the two Autobahn gives
(message exchange, closing handshake); like kosoku's own `passed`, a
closing-handshake verdict other than OK or INFORMATIONAL (FAILED, FAILED BY
CLIENT, WRONG CODE, UNCLEAN) makes the case FAILED. Exits 1 if any case
FAILED, timed out, errored or was not run, or if the server crashed or
stopped answering; else 0. UNIMPLEMENTED (compression) is reported, not
failed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

AGENT = "wshub"
ACCEPTED = ("OK", "NON-STRICT", "INFORMATIONAL")
CLOSE_ACCEPTED = ("OK", "INFORMATIONAL")
# Column order of the summary line; the last four only appear when non-zero.
CLASSES = ("OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "TIMEOUT")
EXTRA = ("UNIMPLEMENTED", "ERROR", "NOT RUN")
BAD = ("FAILED", "TIMEOUT", "ERROR", "NOT RUN")


def descriptions() -> dict[str, str]:
    """Case id -> description, from kosoku's own case index."""
    try:
        from kosoku.cases import CASES
    except Exception:  # noqa: BLE001 - only for nicer output
        return {}
    return {cid: getattr(cls, "DESCRIPTION", "") for cid, cls in CASES.items()}


def plain(text: str, limit: int = 240) -> str:
    """A case description on one line: no HTML breaks, no runs of blanks."""
    text = " ".join(re.sub(r"<br\s*/?>", " ", text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def classify(case: dict[str, Any]) -> str:
    behavior, close = case.get("behavior"), case.get("behaviorClose")
    if behavior == "UNIMPLEMENTED":
        return "UNIMPLEMENTED"
    if behavior == "ERROR":
        return "ERROR"
    if behavior not in ACCEPTED or close not in CLOSE_ACCEPTED:
        return "FAILED"
    rank = {"OK": 0, "NON-STRICT": 1, "INFORMATIONAL": 2}
    return max((behavior, close), key=lambda v: rank.get(v, 0))


def read_status(path: Path) -> tuple[dict[str, list[str]], list[list[str]]]:
    per_case: dict[str, list[str]] = {}
    server: list[list[str]] = []
    if path.exists():
        for line in path.read_text().splitlines():
            row = line.split("\t")
            if len(row) < 2:
                continue
            if row[1] in ("crash", "hung"):
                server.append(row)
            else:
                per_case[row[0]] = row
    return per_case, server


def load_case(run_dir: Path, case_id: str) -> dict[str, Any] | None:
    """The case's report dict from kosoku's run of that one case."""
    try:
        index = json.loads((run_dir / "index.json").read_text())
        for entries in index.values():
            entry = entries.get(case_id)
            if entry:
                return json.loads((run_dir / entry["reportfile"]).read_text())
    except (OSError, ValueError, KeyError):
        pass
    return None


def write_report(report: Path, cases: dict[str, dict[str, Any]]) -> None:
    """One Autobahn-format report for all cases, as if from one run."""
    report.mkdir(parents=True, exist_ok=True)
    index: dict[str, dict[str, Any]] = {AGENT: {}}
    for n, (case_id, case) in enumerate(cases.items(), 1):
        case["case"] = n
        name = f"{AGENT}_case_{case_id.replace('.', '_')}"
        (report / f"{name}.json").write_text(
            json.dumps(case, sort_keys=True, indent=3, separators=(",", ": "))
        )
        index[AGENT][case_id] = {
            "behavior": case["behavior"],
            "behaviorClose": case["behaviorClose"],
            "remoteCloseCode": case["remoteCloseCode"],
            "duration": case["duration"],
            "reportfile": f"{name}.json",
        }
    (report / "index.json").write_text(
        json.dumps(index, sort_keys=True, indent=3, separators=(",", ": "))
    )
    # The HTML comes from kosoku's own (private) renderer; the pinned version
    # has it, and a newer one without it still leaves the JSON report.
    try:
        from kosoku import _report

        for case_id, case in cases.items():
            name = f"{AGENT}_case_{case_id.replace('.', '_')}"
            (report / f"{name}.html").write_text(_report._detail_html(case))
        keyed = {(AGENT, cid): case for cid, case in cases.items()}
        (report / "index.html").write_text(_report._master_html(index, keyed))
    except Exception as e:  # noqa: BLE001
        print(f"summary: no HTML report ({type(e).__name__}: {e})", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--label", default="autobahn")
    args = parser.parse_args()
    out: Path = args.out

    ids = [c for c in (out / "cases.txt").read_text().split() if c]
    status, server_events = read_status(out / "status.tsv")
    desc = descriptions()

    counts = dict.fromkeys(CLASSES + EXTRA, 0)
    cases: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for case_id in ids:
        row = status.get(case_id, [case_id, "not-run"])
        state = row[1]
        case = load_case(out / "runs" / case_id, case_id) if state == "done" else None
        text = desc.get(case_id, "")
        if state == "timeout":
            cls = "TIMEOUT"
            why = f"no verdict within {int(row[2]) / 1000:.0f}s; kosoku was stopped"
        elif state == "not-run":
            cls = "NOT RUN"
            why = "not started: " + (row[2] if len(row) > 2 else "see run.sh's output")
        elif case is None:
            rc = row[3] if len(row) > 3 else "?"
            cls, why = "ERROR", f"kosoku wrote no report (exit status {rc})"
        else:
            case["agent"] = AGENT
            cases[case_id] = case
            cls = classify(case)
            text = case.get("description") or text
            why = (
                f"behavior {case['behavior']}, close {case['behaviorClose']}"
                f" (remote close code {case['remoteCloseCode']}):"
                f" {case.get('result', '')} {case.get('resultClose', '')}"
            )
        counts[cls] += 1
        if cls in BAD:
            entry = f"  {cls} {case_id}: {plain(text)}\n      {why}"
            if cls == "FAILED":
                entry += f"\n      details: {out / 'report'}/{AGENT}_case_{case_id.replace('.', '_')}.html"
            elif cls != "NOT RUN":
                entry += f"\n      log: {out / 'runs' / case_id}.log"
            problems.append(entry)

    write_report(out / "report", cases)

    line = ", ".join(
        f"{counts[c]} {c}" for c in CLASSES + EXTRA if c in CLASSES or counts[c]
    )
    print(f"{args.label}: {line}")
    for p in problems:
        print(p)
    for row in server_events:
        if row[1] == "crash":
            when = row[3] if len(row) > 3 else f"during {row[0]}"
            print(
                f"  SERVER CRASH {when.replace(' ', ' case ', 1)}"
                f" (exit status {row[2] if len(row) > 2 else '?'}); see {out / 'server.log'}"
            )
        else:
            print(
                f"  SERVER HUNG: no echo to a fresh connection after case {row[0]}"
                f" timed out; it was restarted"
            )
    print(f"report: {out / 'report' / 'index.html'}")
    # The plain closing line test-result readers look for.
    n_bad = sum(counts[c] for c in BAD)
    print(f"conformance: {len(ids) - n_bad} passed, {n_bad} failed")
    failed = n_bad > 0 or bool(server_events)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
