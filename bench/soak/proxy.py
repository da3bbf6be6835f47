"""A TCP proxy (tests.fakes.tcp_proxy) in a process of its own, cut and restored by commands on stdin:

    python -m bench.soak.proxy --port 6543 --target 127.0.0.1:5432
    cut        → ok      (open connections closed, new ones refused)
    restore    → ok      (listening again on the same port)

It prints `ready <port>` when it listens and stops when its stdin closes (or on SIGTERM). In a
process of its own, so the soak's simulated phones do not share a GIL with every byte the API and
the jobs exchange with PostgreSQL.
"""

import argparse
import signal
import sys

from tests.fakes.tcp_proxy import TCPProxy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, metavar="HOST:PORT")
    arguments = parser.parse_args()
    host, port = arguments.target.rsplit(":", 1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    proxy = TCPProxy((host, int(port)), port=arguments.port).start()
    print(f"ready {proxy.port}", flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "cut":
                proxy.cut()
            elif command == "restore":
                proxy.restore()
            else:
                print(f"unknown command {command!r}", flush=True)
                continue
            print("ok", flush=True)
    finally:
        proxy.stop()


if __name__ == "__main__":
    main()
