"""ScriptedUpstream in a process of its own: `python -m bench.upstream_process REPLY_JSON`.

The load benchmarks need the fake model out of the servers' processes, or it would share (and
steal) their event loop and core. It prints "PORT <n>" once listening, and exits on SIGTERM or
when its stdin closes (so it never outlives the benchmark).
"""

from __future__ import annotations

import argparse
import collections
import signal
import sys
import threading

from tests.fakes.upstream import ScriptedUpstream, json_reply


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("reply", help="JSON payload every chat completion answers with")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    args = parser.parse_args()

    import json

    upstream = ScriptedUpstream()
    upstream.default = json_reply(json.loads(args.reply), delay_s=args.delay)
    # A load run makes ~10^5 requests: keep the history bounded (nobody reads it here).
    upstream.history = collections.deque(maxlen=16)  # type: ignore[assignment]
    upstream.start()
    print(f"PORT {upstream.port}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
