"""What the soak checks at the end, as functions of plain data: the phones' ledger, rows read back
from the database, and the fake FCM's record of every request it answered. Nothing here talks to a
process, so tests/test_soak.py can feed each check a lost write, a stray push or a doubled prompt
and see it fail.

Shapes (all times are epoch seconds, UTC):
- a receipt: {"at", "token", "data": {...}, "answer": None | "UNAVAILABLE" | …}; None means FCM
  accepted it (a push reached the phone, as far as a server can know);
- a window: {"kind": "sigkill" | "db_cut" | …, "start", "end"}.
"""

import collections
import dataclasses
import datetime as dt
import zoneinfo

SHOWN = 12      # details listed per failed check


@dataclasses.dataclass
class Check:
    name: str
    ok: bool
    summary: str
    details: list = dataclasses.field(default_factory=list)

    def as_dict(self):
        return {"name": self.name, "ok": self.ok, "summary": self.summary, "details": self.details[:50]}


def percentiles(values, *points):
    """{"p50": …, …} of `values` (nearest rank), or Nones when there are none."""
    values = sorted(values)
    if not values:
        return {f"p{p}": None for p in points} | {"count": 0}
    found = {f"p{p}": values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))] for p in points}
    return found | {"count": len(values), "max": values[-1]}


def successes(receipts):
    return [r for r in receipts if r["answer"] is None]


# -- writes --------------------------------------------------------------------------------------

def same_instant(sent, stored):
    """A sent RFC 3339 instant and a stored datetime, to the millisecond (sync carries milliseconds)."""
    return abs(dt.datetime.fromisoformat(sent).timestamp() - stored.timestamp()) < 0.001


COMPARED = {"checkins": ("recorded_at", "pain", "mood", "side_effects"),
            "doses": ("taken_at", "substance_kind", "form", "amount", "unit")}


def writes_stored(creates, patches, stored):
    """Every create the server acknowledged is stored, once, for its person, as sent; every
    acknowledged correction is what the record says now.

    creates: {id: {"table", "uid", "fields"}} · patches: {id: {"note"}} ·
    stored: {id: {"table", "uid", "note", <the fields of COMPARED>}}"""
    lost, wrong = [], []
    for record_id, create in creates.items():
        row = stored.get(record_id)
        if row is None or row["table"] != create["table"] or row["uid"] != create["uid"]:
            lost.append(f"{create['table']} {record_id} of {create['uid']} acknowledged, not stored")
            continue
        for name in COMPARED[create["table"]]:
            sent, held = create["fields"][name], row[name]
            if not (same_instant(sent, held) if name.endswith("_at") else sent == held):
                wrong.append(f"{create['table']} {record_id}: {name} sent {sent!r}, stored {held!r}")
    for record_id, patch in patches.items():
        row = stored.get(record_id)
        if row is None or row.get("note") != patch["note"]:
            wrong.append(f"check-in {record_id}: note {patch['note']!r} acknowledged, stored "
                         f"{None if row is None else row.get('note')!r}")
    ok = not lost and not wrong
    return Check("every acknowledged write is stored", ok,
                 f"{len(creates):,} creates and {len(patches):,} corrections acknowledged; {len(lost)} lost, "
                 f"{len(wrong)} stored otherwise", (lost + wrong)[:SHOWN])


def no_stray_rows(stored, sent_ids):
    """Nothing stored that no phone sent (a retry that made a second record would show here)."""
    stray = sorted(record_id for record_id in stored if record_id not in sent_ids)
    return Check("no record but those sent (retries never duplicate)", not stray,
                 f"{len(stored):,} records stored, {len(stray)} not sent by any phone",
                 [f"{stored[r]['table']} {r}" for r in stray[:SHOWN]])


# -- answers -------------------------------------------------------------------------------------

def answers(attempts, gave_up, unexpected, outages):
    """No 500 (or any 5xx but 503); a 503 only while the database was cut (`outages`: windows);
    no request given up; no answer the phone could not use.

    attempts: [(route, status | None, when it was answered)]"""
    server_errors = [(route, status) for route, status, _ in attempts if status is not None and status >= 500
                     and status != 503]
    stray_503 = [(route, at) for route, status, at in attempts if status == 503
                 and not any(w["start"] <= at <= w["end"] for w in outages)]
    details = [f"{status} from {route}" for route, status in server_errors[:SHOWN]]
    details += [f"503 from {route} at {dt.datetime.fromtimestamp(at, dt.timezone.utc):%H:%M:%S}, outside a "
                "database cut" for route, at in stray_503[:SHOWN]]
    details += [f"gave up on {route} ({why})" for route, why in gave_up[:SHOWN]]
    details += [f"unexpected {status} from {route}: {body}" for route, status, body in unexpected[:SHOWN]]
    ok = not (server_errors or stray_503 or gave_up or unexpected)
    return Check("no 500; 503 only during the database cut", ok,
                 f"{len(server_errors)} 5xx other than 503, {len(stray_503)} 503 outside the cut, "
                 f"{len(gave_up)} requests given up, {len(unexpected)} unexpected answers", details)


# -- reminders -----------------------------------------------------------------------------------

def owed_devices(devices, user_id, sent_at):
    """The devices of `user_id` that are active at the end and were registered when it was sent."""
    return [d for d in devices.get(user_id, ()) if d["active"] and (sent_at is None or d["created_at"] <= sent_at)]


def reminders_reached(owed, occurrences, devices, receipts):
    """Every (schedule, due minute) the soak planned became one occurrence, was pushed, and reached
    every active device of its person at least once. Returns the check and the lags (seconds) from
    due to the first request to FCM (whatever it answered) and to the first push it accepted, per
    occurrence and device.

    owed: [(schedule id, due datetime)] · occurrences: {(schedule id, due datetime): {"id",
    "user_id", "status", "sent_at"}} · devices: {user id: [{"token", "active", "created_at"}]}"""
    reached, tried = {}, {}
    for receipt in receipts:
        data = receipt["data"]
        if data.get("type") == "reminder" and data.get("stage") == "reminder":
            key = (data.get("occurrence_id"), receipt["token"])
            tried[key] = min(tried.get(key, receipt["at"]), receipt["at"])
            if receipt["answer"] is None:
                reached[key] = min(reached.get(key, receipt["at"]), receipt["at"])
    missing_occurrence, unsent, unreached = [], [], []
    lags = {"first_sent": [], "accepted": []}
    for schedule_id, due_at in owed:
        occurrence = occurrences.get((schedule_id, due_at))
        if occurrence is None:
            missing_occurrence.append(f"schedule {schedule_id} due {due_at:%H:%M}: no occurrence")
            continue
        if occurrence["status"] not in ("sent", "missed", "answered"):
            unsent.append(f"occurrence {occurrence['id']} due {due_at:%H:%M}: {occurrence['status']}")
            continue
        for device in owed_devices(devices, occurrence["user_id"], occurrence["sent_at"]):
            key = (occurrence["id"], device["token"])
            if key not in reached:
                unreached.append(f"occurrence {occurrence['id']} due {due_at:%H:%M} never reached …{device['token'][-8:]}")
            else:
                lags["first_sent"].append(tried[key] - due_at.timestamp())
                lags["accepted"].append(reached[key] - due_at.timestamp())
    ok = not (missing_occurrence or unsent or unreached)
    return Check("every due reminder reached every active device", ok,
                 f"{len(owed):,} due; {len(missing_occurrence)} never created, {len(unsent)} not sent, "
                 f"{len(unreached)} device pushes missing; {len(lags['accepted']):,} device pushes reached",
                 (missing_occurrence + unsent + unreached)[:SHOWN]), lags


def only_dead_tokens_dropped(devices, dead_tokens, receipts):
    """A device is deactivated only when FCM said its token is gone, and then it is."""
    dead = set(dead_tokens)
    told_gone = {r["token"] for r in receipts if r["answer"] == "UNREGISTERED"}
    wrongly = [d["token"] for ds in devices.values() for d in ds if not d["active"] and d["token"] not in dead]
    kept = [d["token"] for ds in devices.values() for d in ds if d["active"] and d["token"] in told_gone]
    return Check("devices dropped only for UNREGISTERED tokens", not wrongly and not kept,
                 f"{sum(not d['active'] for ds in devices.values() for d in ds)} devices deactivated, "
                 f"{len(told_gone)} tokens answered UNREGISTERED",
                 [f"…{t[-8:]} deactivated but alive" for t in wrongly[:SHOWN]]
                 + [f"…{t[-8:]} UNREGISTERED but still active" for t in kept[:SHOWN]])


# -- prompts -------------------------------------------------------------------------------------

def leaf_days_over(doses, zone, limit):
    """Local days (ISO dates) on which the kratom leaf powder doses add up to more than `limit` grams."""
    totals = collections.Counter()
    tz = zoneinfo.ZoneInfo(zone)
    for dose in doses:
        if dose["substance_kind"] == "kratom" and dose["form"] == "leaf_powder" and dose["unit"] == "g":
            totals[dose["taken_at"].astimezone(tz).date().isoformat()] += dose["amount"]
    return {day for day, total in totals.items() if round(total, 9) > limit}


def prompts_once(people, prompts, limit, emergency_sign):
    """The prompts the stored records call for, each exactly once, and no other: one `daily_limit`
    for a person whose kratom leaf powder passed their limit on a local day (later days fall within
    its 24-hour cooldown), one `emergency` per check-in noting an emergency sign.

    people: {user id: {"zone", "doses": [...], "checkins": [{"id", "side_effects"}]}} ·
    prompts: [{"user_id", "rule", "dedupe_key"}]"""
    by_person = collections.defaultdict(list)
    for prompt in prompts:
        by_person[prompt["user_id"]].append(prompt)
    lost, doubled, unexpected, expected_count = [], [], [], 0
    for user_id, person in people.items():
        keys = collections.Counter(p["dedupe_key"] for p in by_person.get(user_id, ()))
        doubled += [f"{key} of {user_id} × {n}" for key, n in keys.items() if n > 1]
        days = leaf_days_over(person["doses"], person["zone"], limit)
        limit_keys = {f"daily_limit:kratom:leaf_powder:g:{day}" for day in days}
        raised = {key for key in keys if key.startswith("daily_limit:")}
        if days:
            expected_count += 1
            if not raised & limit_keys:
                lost.append(f"daily_limit of {user_id}: over on {sorted(days)}, no prompt")
        unexpected += [f"{key} of {user_id}" for key in raised - limit_keys]
        unexpected += [f"another daily_limit of {user_id} within the cooldown: {key}"
                       for key in sorted(raised & limit_keys)[1:]]
        emergencies = {f"emergency:{c['id']}" for c in person["checkins"] if emergency_sign in c["side_effects"]}
        expected_count += len(emergencies)
        lost += [f"{key} of {user_id}: no prompt" for key in sorted(emergencies - set(keys))]
        unexpected += [f"{key} of {user_id}" for key in keys
                       if not key.startswith("daily_limit:") and key not in emergencies]
    unexpected += [f"{p['dedupe_key']} of {p['user_id']}, who is not a phone" for p in prompts
                   if p["user_id"] not in people]
    ok = not (lost or doubled or unexpected)
    return Check("each expected prompt exists exactly once", ok,
                 f"{expected_count:,} expected, {len(prompts):,} raised; {len(lost)} lost, {len(doubled)} doubled, "
                 f"{len(unexpected)} unexpected", (lost + doubled + unexpected)[:SHOWN])


def prompts_pushed(prompts, devices, alerted_viewers, receipts):
    """Every prompt reached every active device of its person, and an urgent one every device of
    each caregiver who asked for alerts.

    prompts: [{"id", "user_id", "urgent", "push_status"}] · alerted_viewers: {patient id: [viewer id]}"""
    reached = collections.defaultdict(set)
    for receipt in successes(receipts):
        data = receipt["data"]
        if data.get("type") in ("prompt", "alert"):
            reached[(data["type"], data.get("prompt_id"))].add(receipt["token"])
    missing, pushes = [], 0
    for prompt in prompts:
        if prompt["push_status"] != "sent":
            missing.append(f"prompt {prompt['id']} still {prompt['push_status']}")
            continue
        targets = [("prompt", d) for d in owed_devices(devices, prompt["user_id"], None)]
        if prompt["urgent"]:
            targets += [("alert", d) for viewer in alerted_viewers.get(prompt["user_id"], ())
                        for d in owed_devices(devices, viewer, None)]
        for kind, device in targets:
            pushes += 1
            if device["token"] not in reached[(kind, prompt["id"])]:
                missing.append(f"{kind} of prompt {prompt['id']} never reached …{device['token'][-8:]}")
    return Check("every prompt reached its person (and urgent ones the caregivers)", not missing,
                 f"{len(prompts):,} prompts, {pushes:,} device pushes owed, {len(missing)} missing", missing[:SHOWN])


# -- duplicates ----------------------------------------------------------------------------------

def push_subject(data):
    if data.get("type") == "reminder":
        return ("reminder", data.get("stage"), data.get("occurrence_id"))
    return (data.get("type"), None, data.get("prompt_id"))


def duplicates(receipts, windows):
    """Pushes FCM accepted more than once for one subject and device. A jobs process killed
    mid-batch sends that batch again (README, failure behaviour): so may one whose database
    connection was cut mid-batch; those are counted by window. Any other is a failure.

    Returns the check and {window kind: count, "elsewhere": count}."""
    firsts, counts = {}, collections.Counter()
    for receipt in sorted(successes(receipts), key=lambda r: r["at"]):
        key = (push_subject(receipt["data"]), receipt["token"])
        counts[key] += 1
        firsts.setdefault(key, receipt["at"])
    by_window, elsewhere = collections.Counter(), []
    for key, n in counts.items():
        if n < 2:
            continue
        window = next((w for w in windows if w["start"] <= firsts[key] <= w["end"]), None)
        if window is None:
            elsewhere.append(f"{key[0][0]} {key[0][2]} to …{key[1][-8:]} × {n}, first at "
                             f"{dt.datetime.fromtimestamp(firsts[key], dt.timezone.utc):%H:%M:%S.%f}")
        by_window[window["kind"] if window else "elsewhere"] += n - 1
    tally = {w["kind"]: by_window.get(w["kind"], 0) for w in windows} | {"elsewhere": by_window.get("elsewhere", 0)}
    return Check("duplicate pushes only from a batch in flight at a kill or a cut", not elsewhere,
                 ", ".join(f"{kind} {n}" for kind, n in tally.items()), elsewhere[:SHOWN]), tally


# -- memory, logs, drain --------------------------------------------------------------------------

def memory_flat(samples, limit):
    """RSS at the end of the steady phase over RSS at its start (after warm-up), per process that
    lived through both: at most `limit`.

    samples: {label: (start bytes, end bytes)}"""
    ratios = {label: end / start for label, (start, end) in samples.items() if start and end}
    grown = [f"{label}: {samples[label][0] / 2**20:.0f} → {samples[label][1] / 2**20:.0f} MiB ({ratio:.2f}×)"
             for label, ratio in sorted(ratios.items()) if ratio > limit]
    worst = max(ratios.values(), default=None)
    return Check(f"memory flat (end/start RSS ≤ {limit})", bool(ratios) and not grown,
                 f"{len(ratios)} processes, largest ratio {worst:.2f}" if ratios else "no process sampled twice",
                 grown), ratios


def clean_logs(lines):
    """No ERROR (or worse) line in the API's and the jobs' logs: an expected outage is a warning."""
    return Check("no error in the API's or the jobs' logs", not lines, f"{len(lines)} error lines", lines[:SHOWN])


def drained(backlog):
    """At the end, nothing left waiting: due reminders, pushes to retry, events, prompts to push."""
    waiting = {name: n for name, n in backlog.items() if n}
    return Check("the backlog drained", not waiting,
                 ", ".join(f"{name} {n}" for name, n in backlog.items()),
                 [f"{name}: {n} left" for name, n in waiting.items()])


def stopped_cleanly(exits):
    """The API and the jobs stop on SIGTERM (a deploy, the end) within their grace, with exit 0.

    exits: {name: exit code, None if it had to be killed}"""
    unclean = [f"{name}: exit {code}" for name, code in sorted(exits.items()) if code != 0]
    return Check("SIGTERM stops the API and the jobs cleanly", not unclean,
                 f"{len(exits)} stopped, {len(unclean)} not with exit 0", unclean)
