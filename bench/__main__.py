"""`python -m bench [name …]`: run the named benchmarks, or all of them.

A benchmark is a module with a `main()` that prints its own table, writes
bench/results/<name>.json and returns its results; add it to BENCHMARKS to register it.
CARELOOP_BENCH_SCALE=0.02 (say) runs every benchmark on a fiftieth of its data and work: a smoke
run that shows they work, not their figures.
"""

import argparse
import importlib
import logging
import sys
import time

BENCHMARKS = {
    "foundation": "bench.foundation",
    "report": "bench.report",
    "reminders": "bench.reminders",
    "monitoring": "bench.monitoring",
    "sync": "bench.sync",
    "latency": "bench.latency",
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the named benchmarks, or all of them.")
    parser.add_argument("names", nargs="*", metavar="name", help=f"one of: {', '.join(BENCHMARKS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")

    # Before create_app() would configure INFO logging: migration steps are noise here, and so is
    # the warning that every app the benchmarks build logs about the certificates it checks
    # ID tokens against (this process's loopback stand-in for Google's).
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("backend.accounts.auth").setLevel(logging.ERROR)
    for name in args.names or BENCHMARKS:
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        importlib.import_module(BENCHMARKS[name]).main()
        print(f"== {name}: {time.perf_counter() - started:.0f} s\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
