"""The soak's child processes: each in a session of its own (so a signal reaches a gunicorn master and
its workers together, and the terminal's Ctrl-C reaches none of them: the soak stops them in order),
told by the kernel to stop if the soak itself dies (`setpriv --pdeathsig`), logging to a file.

Children are started from the main thread only: the parent-death signal follows the thread that
started the child.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CARELOOP = Path(sys.executable).with_name("careloop")
# util-linux: the child gets SIGTERM when the soak dies, even by SIGKILL, so nothing outlives it.
PDEATHSIG = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []


class Child:
    """One process (and, through its session, its children), logging to `log_dir/<name>.log`."""

    def __init__(self, name, argv, env, log_dir, *, stdin=False):
        self.name = name
        self.log_path = Path(log_dir) / f"{name}.log"
        self._log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            PDEATHSIG + list(argv), cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, start_new_session=True,
            text=True, bufsize=1)
        self.started_at = time.time()

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def signal(self, signum):
        """Signal this process alone (a gunicorn master passes a SIGTERM on to its workers itself)."""
        if self.alive():
            os.kill(self.pid, signum)

    def wait(self, timeout):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=30):
        """SIGTERM, then SIGKILL to the whole session if it has not ended within `timeout`; returns
        its exit code (negative: the signal that ended it)."""
        if self.alive():
            self.signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.kill_group()
        else:
            self.kill_group()   # a dead master's orphaned workers, if any
        self._log.close()
        return self.process.returncode

    def kill_group(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.wait(10)

    def log_tail(self, characters=3000):
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except FileNotFoundError:
            return ""


class Controlled(Child):
    """A child that takes one-line commands on stdin and answers each with one line on stdout
    (the proxies and the fake FCM of bench/soak)."""

    def __init__(self, name, argv, env, log_dir):
        self.name = name
        self.log_path = Path(log_dir) / f"{name}.log"
        self._log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            PDEATHSIG + list(argv), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._log,
            stdin=subprocess.PIPE, start_new_session=True, text=True, bufsize=1)
        self.started_at = time.time()
        self._lock = threading.Lock()
        self.first_line = self.process.stdout.readline().strip()
        if not self.first_line:
            raise RuntimeError(f"{name} did not start:\n{self.log_tail()}")

    def command(self, line):
        with self._lock:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline().strip()
        if not answer.startswith("ok"):
            raise RuntimeError(f"{self.name} answered {answer!r} to {line!r}:\n{self.log_tail()}")
        return answer[2:].strip()

    def stop(self, timeout=30):
        """Close its stdin (its cue to finish and write what it holds), then as Child.stop."""
        if self.alive():
            try:
                self.process.stdin.close()
            except OSError:
                pass
            if self.wait(timeout) is None:
                self.kill_group()
        self._log.close()
        return self.process.returncode


def wait_until_serving(port, child, path="/healthz", timeout=90):
    """Until 127.0.0.1:port answers `path` with 200; raises with the child's log if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{child.name} did not answer on port {port} within {timeout} s:\n{child.log_tail()}")


def rss_bytes(pid):
    """Resident memory of a process (Linux), or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children_of(pid):
    """The direct children of `pid` (a gunicorn master's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
    return sorted(found)
