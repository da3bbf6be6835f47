"""Simulated phones, caregivers and clinicians: threads with `requests` sessions, behind a
client-side load balancer over the API servers.

Every request is noted (route, status or connection error, latency). A phone retries a request
that met a 503 (after its Retry-After) or lost its connection (at once, on the other server),
always with the same body: creates carry their client ids, so a retry never makes a second record.
Every write the server acknowledged (2xx) goes into the ledger the checks read back from the
database, and so does every id ever sent, acknowledged or not.
"""

import dataclasses
import datetime as dt
import itertools
import json
import random
import threading
import time
import uuid
import zoneinfo

import requests

# A request whose answers stay 503 or whose connections keep failing this long is given up (and
# the soak fails): outages in the soak last seconds.
GIVE_UP_AFTER = 120
TIMEOUT = 30
LEAF_LIMIT_G = 8                       # each phone's plan: kratom leaf powder, 8 g a local day
PLAN = {"substances": {"kratom": {"daily_limit": {"amount": LEAF_LIMIT_G, "unit": "g", "forms": ["leaf_powder"]}}}}
EMERGENCY_SIGN = "fainting"            # a check-in noting it raises one `emergency` prompt, urgent
EMERGENCY_SHARE = 0.08
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Adelaide", "America/Los_Angeles")


@dataclasses.dataclass
class Attempt:
    route: str
    status: int | None          # None: the connection failed (refused, reset, timed out)
    at: float                   # when it was sent (time.time())
    seconds: float
    server: int


class Ledger:
    """What the phones did and what the server acknowledged; appended to from many threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts = []
        self.creates = {}        # record id → {"table", "uid", "fields", "acked_at", "via"}
        self.sent_ids = set()    # every record id ever sent, acknowledged or not
        self.patches = {}        # check-in id → {"note", "acked_at"} (the last acknowledged)
        self.gave_up = []        # (route, why)
        self.unexpected = []     # (route, status, body excerpt)
        self.crossings = {}      # (uid, local day) → when the write that passed the daily limit was acknowledged
        self.resolved_412 = 0    # a PATCH retried after a lost answer met its own change: read back, fine
        self.sync_conflicts = 0

    def attempt(self, attempt):
        self.attempts.append(attempt)     # list.append is atomic under the GIL

    def sent(self, ids):
        with self.lock:
            self.sent_ids.update(ids)

    def created(self, table, uid, record_id, fields, via):
        with self.lock:
            self.creates[record_id] = {"table": table, "uid": uid, "fields": fields, "acked_at": time.time(),
                                       "via": via}

    def surprise(self, route, status, body):
        with self.lock:
            self.unexpected.append((route, status, (body or "")[:300]))


class Api:
    """The API as the phones reach it: a load balancer's choice of server per request; a server
    whose connection failed is avoided for a moment."""

    def __init__(self, ports, ledger, certificates, project_id):
        self.ports = list(ports)
        self.ledger = ledger
        self.certificates = certificates
        self.project_id = project_id
        self._turn = itertools.count()
        self._avoid_until = [0.0] * len(self.ports)
        self._local = threading.local()
        self.stopping = threading.Event()

    def headers(self, uid):
        return {"Authorization": "Bearer " + self.certificates.id_token(uid, self.project_id)}

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=len(self.ports), pool_maxsize=2, max_retries=0)
            session.mount("http://", adapter)
        return session

    def _server(self):
        now = time.monotonic()
        candidates = [n for n in range(len(self.ports)) if self._avoid_until[n] <= now] or range(len(self.ports))
        candidates = list(candidates)
        return candidates[next(self._turn) % len(candidates)]

    def call(self, method, path, route, uid=None, body=None, headers=None, accept=(200, 201, 204)):
        """The answer once it is neither a 503 nor a lost connection; None if given up. An answer
        outside `accept` is noted as unexpected (and returned)."""
        began = time.monotonic()
        session = self._session()
        while True:
            server = self._server()
            sent = time.time()
            clock = time.perf_counter()
            try:
                request_headers = {**(self.headers(uid) if uid else {}), **(headers or {})}
                response = session.request(method, f"http://127.0.0.1:{self.ports[server]}{path}", json=body,
                                           headers=request_headers, timeout=TIMEOUT)
                response.content   # noqa: B018 (read the whole body: a cut can come in the middle)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
                self.ledger.attempt(Attempt(route, None, sent, time.perf_counter() - clock, server))
                self._avoid_until[server] = time.monotonic() + 2
                session.close()    # drop the pooled connections to the server that went away
                if time.monotonic() - began > GIVE_UP_AFTER:
                    self.ledger.gave_up.append((route, "connection"))
                    return None
                time.sleep(0.2)
                continue
            self.ledger.attempt(Attempt(route, response.status_code, sent, time.perf_counter() - clock, server))
            if response.status_code == 503:
                if time.monotonic() - began > GIVE_UP_AFTER:
                    self.ledger.gave_up.append((route, "503"))
                    return None
                time.sleep(min(float(response.headers.get("Retry-After") or 1), 5))
                continue
            if response.status_code not in accept:
                self.ledger.surprise(route, response.status_code, response.text)
            return response


def millis(instant):
    return int(instant.timestamp() * 1000)


def now_utc():
    return dt.datetime.now(dt.timezone.utc)


class Phone:
    """One person's phone (and their caregiver, and their clinician's report link)."""

    def __init__(self, n, run_id, rng):
        self.n = n
        self.uid = f"soak-{run_id}-phone-{n}"
        self.zone = ZONES[n % len(ZONES)]
        self.tokens = [f"soak-{run_id}-phone-{n}-{d}:" + uuid.uuid4().hex * 4 for d in range(1 + (n % 3 == 0))]
        self.platforms = ["android", "ios"][:len(self.tokens)]
        self.carer_uid = f"soak-{run_id}-carer-{n}" if n % 4 == 0 else None
        self.carer_token = f"soak-{run_id}-carer-{n}:" + uuid.uuid4().hex * 4 if self.carer_uid else None
        self.wants_link = n % 10 == 0
        self.rng = rng
        self.user_id = None
        self.report_path = None
        self.last_pulled_at = None
        self.editable = []        # (check-in id, etag) created over REST
        self.leaf_g = {}          # local day → acknowledged grams of kratom leaf powder
        self.schedule_id = None

    def local_day(self, instant):
        return instant.astimezone(zoneinfo.ZoneInfo(self.zone)).date()

    # -- setting up, as the app does at first start ------------------------------------------------

    def sign_up(self, api):
        me = api.call("GET", "/v1/me", "GET /v1/me", self.uid)
        self.user_id = me.json()["id"]
        api.call("PATCH", "/v1/me", "PATCH /v1/me", self.uid, {"timezone": self.zone})
        for token, platform in zip(self.tokens, self.platforms):
            api.call("POST", "/v1/devices", "POST /v1/devices", self.uid, {"token": token, "platform": platform})
        api.call("PUT", "/v1/plan", "PUT /v1/plan", self.uid, PLAN)
        if self.carer_uid:
            invite = api.call("POST", "/v1/shares/invites", "POST /v1/shares/invites", self.uid,
                              {"role": "caregiver", "scopes": ["checkins", "doses", "prompts"], "alerts": True})
            api.call("GET", "/v1/me", "GET /v1/me", self.carer_uid)
            api.call("POST", "/v1/devices", "POST /v1/devices", self.carer_uid,
                     {"token": self.carer_token, "platform": "android"})
            api.call("POST", "/v1/shares/accept", "POST /v1/shares/accept", self.carer_uid,
                     {"code": invite.json()["code"]})
        if self.wants_link:
            link = api.call("POST", "/v1/report-links", "POST /v1/report-links", self.uid, {"label": "soak clinic"})
            self.report_path = "/r/" + link.json()["url"].rsplit("/r/", 1)[1]
        self.pull(api)

    def add_reminder(self, api, times):
        """A dose reminder at these local times (HH:MM), every day."""
        self.schedule_id = str(uuid.uuid4())
        api.ledger.sent([self.schedule_id])
        api.call("POST", "/v1/reminders", "POST /v1/reminders", self.uid,
                 {"id": self.schedule_id, "kind": "dose", "times": times, "label": "soak"})

    # -- what a phone does all day ----------------------------------------------------------------

    def act(self, api, wire):
        """One thing a person, their caregiver or their clinician does."""
        roll = self.rng.random()
        for share, action in ((0.22, self.log_checkin), (0.22, self.log_dose), (0.12, lambda a: self.sync(a, wire)),
                              (0.05, self.correct_checkin), (0.22, self.read), (0.05, self.register_again),
                              (0.10, self.caregiver_reads), (0.02, self.clinician_reads)):
            if roll < share:
                return action(api)
            roll -= share
        return self.read(api)

    def checkin_fields(self, at):
        fields = {"recorded_at": at.isoformat(), "pain": self.rng.randint(0, 10),
                  "enjoyment_interference": self.rng.randint(0, 10), "activity_interference": self.rng.randint(0, 10),
                  "focus": self.rng.randint(0, 4), "mood": self.rng.randint(0, 10), "side_effects": []}
        if self.rng.random() < EMERGENCY_SHARE:
            fields["side_effects"] = [EMERGENCY_SIGN]
        elif self.rng.random() < 0.2:
            fields["side_effects"] = ["constipation"]
        return fields

    def dose_fields(self, at):
        if self.rng.random() < 0.7:
            return {"taken_at": at.isoformat(), "substance_kind": "kratom", "form": "leaf_powder",
                    "product": "Green Malay", "amount": self.rng.choice((1.5, 2.0, 2.5, 3.0)), "unit": "g"}
        return {"taken_at": at.isoformat(), "substance_kind": "nsaid", "form": "tablet", "product": "Ibuprofen",
                "amount": 1, "unit": "tablet"}

    def log_checkin(self, api):
        record_id = str(uuid.uuid4())
        fields = self.checkin_fields(now_utc())
        api.ledger.sent([record_id])
        response = api.call("POST", "/v1/checkins", "POST /v1/checkins", self.uid, {"id": record_id, **fields})
        if response is not None and response.status_code in (200, 201):
            api.ledger.created("checkins", self.uid, record_id, fields, "rest")
            self.editable.append((record_id, response.headers.get("ETag")))

    def log_dose(self, api):
        record_id = str(uuid.uuid4())
        fields = self.dose_fields(now_utc())
        api.ledger.sent([record_id])
        response = api.call("POST", "/v1/doses", "POST /v1/doses", self.uid, {"id": record_id, **fields})
        if response is not None and response.status_code in (200, 201):
            api.ledger.created("doses", self.uid, record_id, fields, "rest")
            self.acknowledged_dose(api, fields)

    def acknowledged_dose(self, api, fields):
        """Note when this phone's own writes first passed its daily limit (write-to-prompt latency)."""
        if fields["form"] != "leaf_powder":
            return
        day = self.local_day(dt.datetime.fromisoformat(fields["taken_at"]))
        before = self.leaf_g.get(day, 0)
        self.leaf_g[day] = before + fields["amount"]
        if before <= LEAF_LIMIT_G < self.leaf_g[day]:
            with api.ledger.lock:
                api.ledger.crossings.setdefault((self.uid, day.isoformat()), time.time())

    def pull(self, api):
        query = f"last_pulled_at={self.last_pulled_at or 'null'}&schema_version=1"
        response = api.call("GET", f"/v1/sync?{query}", "GET /v1/sync", self.uid)
        if response is None or response.status_code != 200:
            return False
        self.last_pulled_at = response.json()["timestamp"]
        return True

    def sync(self, api, wire):
        """WatermelonDB's synchronize(): pull, then push what was made offline (1 to 3 records);
        a 409 or a lost push means pull and push again, the same records."""
        made = []
        for _ in range(self.rng.randint(1, 3)):
            at = now_utc() - dt.timedelta(seconds=self.rng.randint(0, 120))
            if self.rng.random() < 0.5:
                made.append(("checkins", str(uuid.uuid4()), self.checkin_fields(at)))
            else:
                made.append(("doses", str(uuid.uuid4()), self.dose_fields(at)))
        api.ledger.sent([record_id for _, record_id, _ in made])
        changes = {table: {"created": [], "updated": [], "deleted": []} for table in wire.tables}
        for table, record_id, fields in made:
            changes[table]["created"].append(wire.record(table, record_id, fields))
        for _ in range(5):
            if not self.pull(api):
                return
            response = api.call("POST", f"/v1/sync?last_pulled_at={self.last_pulled_at}", "POST /v1/sync", self.uid,
                                changes, accept=(200, 409))
            if response is None:
                return
            if response.status_code == 409:
                with api.ledger.lock:
                    api.ledger.sync_conflicts += 1
                continue
            if response.status_code == 200:
                for table, record_id, fields in made:
                    api.ledger.created(table, self.uid, record_id, fields, "sync")
                    if table == "doses":
                        self.acknowledged_dose(api, fields)
            return

    def correct_checkin(self, api):
        """A note added to an earlier check-in, with If-Match; a 412 after a lost answer is our own
        change landing the first time: read back to tell."""
        if not self.editable:
            return self.log_checkin(api)
        index = self.rng.randrange(len(self.editable))
        record_id, etag = self.editable[index]
        note = f"soak note {uuid.uuid4().hex[:8]}"
        response = api.call("PATCH", f"/v1/checkins/{record_id}", "PATCH /v1/checkins/{id}", self.uid,
                            {"note": note}, headers={"If-Match": etag} if etag else None, accept=(200, 412))
        if response is None:
            return
        if response.status_code == 412:
            current = api.call("GET", f"/v1/checkins/{record_id}", "GET /v1/checkins/{id}", self.uid)
            if current is None or current.json().get("note") != note:
                api.ledger.surprise("PATCH /v1/checkins/{id}", 412, response.text)
                return
            with api.ledger.lock:
                api.ledger.resolved_412 += 1
            response = current
        if response.status_code == 200:
            with api.ledger.lock:
                api.ledger.patches[record_id] = {"note": note, "acked_at": time.time()}
            self.editable[index] = (record_id, response.headers.get("ETag"))

    def read(self, api):
        today = self.local_day(now_utc())
        path, route = self.rng.choice((
            ("/v1/me", "GET /v1/me"), ("/v1/checkins?limit=20", "GET /v1/checkins"),
            ("/v1/doses?limit=20", "GET /v1/doses"), ("/v1/prompts", "GET /v1/prompts"),
            ("/v1/reminders/occurrences", "GET /v1/reminders/occurrences"),
            (f"/v1/doses/daily-totals?from={today - dt.timedelta(days=6)}&to={today}", "GET /v1/doses/daily-totals"),
        ))
        api.call("GET", path, route, self.uid)

    def register_again(self, api):
        """The app registers its token at every start (a repeat reactivates it, never duplicates)."""
        token = self.rng.choice(self.tokens)
        api.call("POST", "/v1/devices", "POST /v1/devices", self.uid,
                 {"token": token, "platform": self.platforms[self.tokens.index(token)]})

    def caregiver_reads(self, api):
        if not self.carer_uid:
            return self.read(api)
        part = self.rng.choice(("summary", "checkins", "doses", "prompts"))
        api.call("GET", f"/v1/patients/{self.user_id}/{part}", f"GET /v1/patients/{{id}}/{part}", self.carer_uid)

    def clinician_reads(self, api):
        if not self.report_path:
            return self.read(api)
        api.call("GET", self.report_path, "GET /r/{token}")


class Wire:
    """Records as a WatermelonDB phone pushes them, built from GET /v1/sync/schema: every column,
    instants in epoch milliseconds, lists as JSON text."""

    def __init__(self, schema):
        self.tables = {table["name"]: table["columns"] for table in schema["tables"]}

    def record(self, table, record_id, fields):
        values = {}
        for column in self.tables[table]:
            name = column["name"]
            if name in fields:
                value = fields[name]
                if name.endswith("_at") and isinstance(value, str):
                    value = millis(dt.datetime.fromisoformat(value))
                elif isinstance(value, list):
                    value = json.dumps(value)
            elif column["isOptional"]:
                value = None
            else:
                value = {"number": 0, "boolean": False, "string": ""}[column["type"]]
            values[name] = value
        return {"id": record_id, "_status": "created", "_changed": "", **values}


class Traffic:
    """The phones at work: `workers` threads, each driving its own share of the phones in turn at
    an even pace, so that all together make about `rate` actions a second."""

    def __init__(self, api, phones, wire, workers, rate):
        self.api, self.phones, self.wire = api, phones, wire
        self.workers, self.rate = workers, rate
        self.threads = []
        self.errors = []

    def start(self):
        for w in range(self.workers):
            mine = self.phones[w::self.workers]
            if mine:
                thread = threading.Thread(target=self._work, args=(mine,), name=f"soak-phones-{w}", daemon=True)
                thread.start()
                self.threads.append(thread)

    def _work(self, phones):
        pause = self.workers / self.rate
        rng = random.Random()
        turn = itertools.cycle(phones)
        time.sleep(rng.uniform(0, pause))
        while not self.api.stopping.is_set():
            began = time.monotonic()
            phone = next(turn)
            try:
                phone.act(self.api, self.wire)
            except Exception as error:  # noqa: BLE001 (a bug in the soak's own client: reported, not hidden)
                self.errors.append(f"{type(error).__name__}: {error}")
            self.api.stopping.wait(max(0.0, pause - (time.monotonic() - began)))

    def stop(self):
        self.api.stopping.set()
        for thread in self.threads:
            thread.join(timeout=GIVE_UP_AFTER + TIMEOUT)
