"""`python -m bench.soak [--minutes N]`: see bench/soak/__init__.py."""

import sys
import time

from bench.soak import main

started = time.perf_counter()
code = main()
print(f"== soak: {time.perf_counter() - started:.0f} s", flush=True)
sys.exit(code)
