"""The fake FCM (tests.fakes.fcm_server) in a process of its own, as the soak runs it:

    python -m bench.soak.fcm --latency-ms 40 --errors UNAVAILABLE=0.03,QUOTA_EXCEEDED=0.02 \
        --retry-after 20 --dead-tokens dead.txt --record received.jsonl

Every answer takes FCM's round trip; a share of them are errors; the tokens listed in
--dead-tokens are UNREGISTERED (apps uninstalled). It prints `ready <url>` when it listens, and
takes commands on stdin: `calm` (no more random errors) → `ok`, `count` → `ok <requests>`. When its
stdin closes (or on SIGTERM) it stops and writes every request it received, one JSON object a line
(`at`, `token`, `data`, `answer`: the FCM error code or null), to --record.
"""

import argparse
import json
import signal
import sys
from pathlib import Path

from tests.fakes.fcm_server import FakeFCMServer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--errors", default="", metavar="CODE=SHARE,…")
    parser.add_argument("--retry-after", default=None)
    parser.add_argument("--dead-tokens", type=Path)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=None)
    arguments = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    fcm = FakeFCMServer(latency=arguments.latency_ms / 1000).start()
    try:
        if arguments.dead_tokens:
            for token in arguments.dead_tokens.read_text().split():
                fcm.fail("UNREGISTERED", token=token)
        shares = {code: float(share) for code, share in
                  (item.split("=", 1) for item in arguments.errors.split(",") if item)}
        fcm.fail_at_random(shares, retry_after=arguments.retry_after, seed=arguments.seed)
        print(f"ready {fcm.url}", flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "calm":
                fcm.fail_at_random({})
                print("ok", flush=True)
            elif command == "count":
                print(f"ok {fcm.request_count}", flush=True)
            else:
                print(f"unknown command {command!r}", flush=True)
    finally:
        fcm.stop()
        with open(arguments.record, "w") as record:
            for received in fcm.received:
                message = received.message
                record.write(json.dumps({"at": received.at, "token": message.get("token"),
                                         "data": message.get("data") or {}, "answer": received.answer}) + "\n")


if __name__ == "__main__":
    main()
