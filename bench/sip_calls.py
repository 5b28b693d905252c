#!/usr/bin/env python3
"""Real calls at once through the Asterisk sandbox: N pjsua2 calls to the hotline, all served?

Not a test of its own: it runs tests/acceptance/test_load_calls.py (the acceptance test that
places 20 simultaneous calls and checks every call record) with ``HOTLINE_LOAD_CALLS=N`` and
has it write its timings, then prints them. It needs the sandbox's ports to itself (SIP 5060,
AMI 5038, FastAGI 4573), like every acceptance test: run it alone, e.g. under the lock the
acceptance runs take on a shared machine, ``flock /tmp/hotline-sandbox.lock bench/sip_calls.py``.

See docs/benchmarks.md ("Real calls at once") for figures and how to read them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/acceptance/test_load_calls.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="N simultaneous real calls to the hotline through the sandbox.")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also keep the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "load-calls.json"
        env = dict(os.environ, HOTLINE_LOAD_CALLS=str(args.calls), HOTLINE_LOAD_REPORT=str(report))
        status = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST],
                                cwd=PROJECT_ROOT, env=env).returncode
        if status != 0 or not report.exists():
            print(f"{args.calls} calls: not all served (pytest exit {status})")
            return 1
        figures = json.loads(report.read_text())
    print(markdown(figures))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def markdown(f: dict) -> str:
    setup, length, cpu = f["setup_seconds"], f["call_seconds"], f["cpu_seconds"]
    return "\n".join([
        "| calls | served | placed within s | all answered after s | answer min / median / max ms "
        "| call length min / median / max s | all up together s | wall s | Asterisk CPU s | ivr agi CPU s |",
        "|---:|---:|---:|---:|---|---|---:|---:|---:|---:|",
        f"| {f['calls']} | {f['served']} | {f['placed_spread']:.3f} | {f['all_answered_after']:.2f} "
        f"| {1000 * setup['min']:.0f} / {1000 * setup['median']:.0f} / {1000 * setup['max']:.0f} "
        f"| {length['min']:.1f} / {length['median']:.1f} / {length['max']:.1f} | {f['overlap_seconds']:.1f} "
        f"| {f['wall_seconds']:.1f} | {cpu['asterisk']:.1f} | {cpu['ivr agi']:.1f} |",
    ])


if __name__ == "__main__":
    sys.exit(main())
