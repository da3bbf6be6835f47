"""Real WatermelonDB phones for the end-to-end sync tests.

Each `Phone` is one Node process (tests/sync/phone/phone.js) running WatermelonDB 0.28 on LokiJS
in memory, its database built from the server's GET /v1/sync/schema. The tests drive it with one
JSON command per line and read one JSON reply per line. The server is the app itself, served over
HTTP on a free local port against the test database.

WatermelonDB comes from the repository's package-lock.json: `npm ci` (`make test` runs it).
"""

import collections
import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PHONE_JS = Path(__file__).with_name("phone") / "phone.js"
WATERMELONDB = ROOT / "node_modules" / "@nozbe" / "watermelondb"
# A sync of a couple of thousand records takes a few seconds; anything near this is stuck.
REPLY_TIMEOUT = 60
STDERR_LINES = 60


def require_node():
    """Fail (never skip: a skipped sync test proves nothing) when the phones cannot run."""
    if shutil.which("node") is None:
        pytest.fail("the sync phones need Node.js 20 (`node` is not on PATH)")
    if not WATERMELONDB.is_dir():
        pytest.fail(f"{WATERMELONDB.relative_to(ROOT)} is missing: run `npm ci` at the repository root "
                    "(`make test` does)")


class PhoneError(AssertionError):
    """A command the phone could not carry out, with the reply and the phone's recent stderr."""


class Phone:
    """One phone signed in as `person`, talking to the server at `server_url`."""

    def __init__(self, server_url, person, name="phone"):
        self.name = name
        self.person = person
        self._stderr = collections.deque(maxlen=STDERR_LINES)
        self._replies = queue.Queue()
        self._process = subprocess.Popen(
            ["node", str(PHONE_JS), server_url, person.token], cwd=ROOT, text=True, encoding="utf-8",
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._readers = [
            threading.Thread(target=self._read, args=(self._process.stdout, self._replies.put), daemon=True),
            threading.Thread(target=self._read, args=(self._process.stderr, self._stderr.append), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        ready = self._reply("start")
        if not ready["ok"]:
            self._fail("did not start", ready)
        self.tables = ready["tables"]

    @staticmethod
    def _read(stream, sink):
        for line in stream:
            sink(line.rstrip("\n"))
        sink(None)

    def _reply(self, what):
        try:
            line = self._replies.get(timeout=REPLY_TIMEOUT)
        except queue.Empty:
            self._fail(f"gave no answer to {what} within {REPLY_TIMEOUT} s")
        if line is None:
            self._process.wait(timeout=5)
            self._fail(f"exited ({self._process.returncode}) instead of answering {what}")
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            self._fail(f"answered {what} with something not JSON: {line[:500]}")

    def _fail(self, what, reply=None):
        stderr = "\n".join(line for line in self._stderr if line is not None)
        detail = f"\nreply: {json.dumps(reply)[:4000]}" if reply is not None else ""
        raise PhoneError(f"{self.name} {what}{detail}\n--- its stderr (last {STDERR_LINES} lines) ---\n{stderr}")

    def call(self, cmd, **args):
        """Send one command and return its reply, whether it succeeded or not."""
        self._process.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self._process.stdin.flush()
        return self._reply(cmd)

    def do(self, cmd, **args):
        """Send one command that must succeed and return its reply."""
        reply = self.call(cmd, **args)
        if not reply["ok"]:
            self._fail(f"failed {cmd}", reply)
        return reply

    # Records, in the phone's own representation (instants in epoch ms, lists as JSON text).

    def create(self, table, record_id=None, **fields):
        """A new record (under `record_id` if given, else a fresh UUID); returns its id."""
        args = {} if record_id is None else {"id": record_id}
        return self.do("create", table=table, fields=fields, **args)["id"]

    def create_many(self, table, records):
        return self.do("create_many", table=table, records=records)["ids"]

    def update(self, table, record_id, **fields):
        return self.do("update", table=table, id=record_id, fields=fields)["record"]

    def delete(self, table, record_id):
        self.do("delete", table=table, id=record_id)

    def adopt(self, table, raw):
        """Hold `raw` as if the server had sent it (what a tampered phone could do)."""
        self.do("adopt", table=table, raw=raw)

    def records(self, table):
        """Every live record of `table` on the phone, by id."""
        return {raw["id"]: raw for raw in self.do("all", table=table)["records"]}

    def everything(self):
        """Every live record the phone holds, by table and id (to compare two phones)."""
        return {table: self.records(table) for table in self.tables}

    def record(self, table, record_id):
        return self.records(table)[record_id]

    def requests(self):
        return self.do("requests")["requests"]

    def unsynced(self):
        return self.do("unsynced")["unsynced"]

    # Sync

    def try_sync(self, **options):
        """One WatermelonDB synchronize(); the reply says whether it succeeded."""
        return self.call("sync", **options)

    def sync(self, **options):
        """One synchronize() that must succeed without WatermelonDB logging a warning or an error."""
        reply = self.try_sync(**options)
        if not reply["ok"]:
            self._fail("failed to sync", reply)
        if reply["logged"]:
            self._fail("synced, but WatermelonDB logged warnings or errors", reply)
        return reply

    def pull_and_hold_push(self):
        """Start a sync that pulls, then waits before pushing until `release_push()`: another
        phone can change the server in between."""
        reply = self.do("sync", hold_push=True)
        if not reply.get("paused"):
            self._fail("had nothing to push", reply)

    def release_push(self):
        """Let the held sync push; its outcome, as `try_sync` gives it."""
        return self.call("release")

    def sync_as_app(self):
        """Sync as the app does: when the push finds the server changed since the pull (409), sync
        once more (pull, resolve per column with local changes winning, push again)."""
        reply = self.try_sync()
        if not reply["ok"] and reply["error"].get("status") == 409:
            if reply["logged"]:
                self._fail("was refused with 409, and WatermelonDB logged warnings or errors", reply)
            return [reply, self.sync()]
        if not reply["ok"] or reply["logged"]:
            self._fail("failed to sync", reply)
        return [reply]

    def close(self):
        if self._process.poll() is None:
            try:
                self._process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self._process.stdin.close()
                self._process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            stream.close()


@pytest.fixture
def phone_for(live_server):
    """Factory: a new phone (its own empty database) signed in as a person, closed after the test."""
    require_node()
    phones = []

    def start(person, name=None):
        phone = Phone(live_server, person, name or f"phone {len(phones) + 1} of {person.uid}")
        phones.append(phone)
        return phone

    yield start
    for phone in phones:
        phone.close()
