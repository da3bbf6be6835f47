"""The soak's checks (bench/soak/checks.py) fail when they should.

A soak that passes proves something only if its checks would have failed on a lost write, a push
that never arrived, a doubled or missing prompt or a duplicate outside a kill or a cut; a full run
cannot show that, since it (hopefully) meets none of them. Each test here hands a check the
evidence of one such fault, and the same evidence without it. And the fake FCM's random errors,
which the soak's retry checks rest on, are answered and recorded as FCM answers them.
"""

import datetime as dt
import json
import urllib.error
import urllib.request

import pytest

from bench.soak import checks
from tests.fakes.fcm_server import FakeFCMServer

UTC = dt.timezone.utc
DUE = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LATER = dt.datetime(2026, 11, 25, 12, 0, 20, tzinfo=UTC)


def checkin(uid="ann", **fields):
    return {"table": "checkins", "uid": uid, "fields": {
        "recorded_at": "2026-11-25T12:00:00+00:00", "pain": 4, "mood": 6, "side_effects": [], **fields}}


def stored_checkin(uid="ann", note=None, **fields):
    return {"table": "checkins", "uid": uid, "recorded_at": DUE, "pain": 4, "mood": 6, "side_effects": [],
            "note": note, **fields}


def receipt(token, at=LATER, answer=None, **data):
    return {"at": at.timestamp(), "token": token, "data": data, "answer": answer}


# -- writes ----------------------------------------------------------------------------------------

def test_an_acknowledged_write_missing_from_the_database_fails_the_check():
    creates = {"c1": checkin(), "c2": checkin()}
    assert checks.writes_stored(creates, {}, {"c1": stored_checkin(), "c2": stored_checkin()}).ok
    lost = checks.writes_stored(creates, {}, {"c1": stored_checkin()})
    assert not lost.ok and "c2" in lost.details[0]


def test_a_write_stored_for_someone_else_or_otherwise_fails_the_check():
    creates = {"c1": checkin()}
    assert not checks.writes_stored(creates, {}, {"c1": stored_checkin(uid="bob")}).ok
    assert not checks.writes_stored(creates, {}, {"c1": stored_checkin(pain=5)}).ok
    moved = stored_checkin(recorded_at=DUE + dt.timedelta(milliseconds=2))
    assert not checks.writes_stored(creates, {}, {"c1": moved}).ok
    # Sync carries milliseconds: a stored instant within one of the sent one is the same instant.
    assert checks.writes_stored(creates, {}, {"c1": stored_checkin(recorded_at=DUE + dt.timedelta(microseconds=400))}).ok


def test_an_acknowledged_correction_that_was_not_kept_fails_the_check():
    creates, patches = {"c1": checkin()}, {"c1": {"note": "second"}}
    assert checks.writes_stored(creates, patches, {"c1": stored_checkin(note="second")}).ok
    assert not checks.writes_stored(creates, patches, {"c1": stored_checkin(note="first")}).ok


def test_a_record_no_phone_sent_fails_the_check():
    assert checks.no_stray_rows({"c1": stored_checkin()}, {"c1", "c2"}).ok   # c2 never landed: fine here
    assert not checks.no_stray_rows({"c1": stored_checkin(), "c9": stored_checkin()}, {"c1"}).ok


# -- answers ---------------------------------------------------------------------------------------

def test_a_500_or_a_503_outside_the_cut_fails_the_check_and_a_503_in_it_does_not():
    cut = [{"kind": "db_cut", "start": 100.0, "end": 120.0}]
    assert checks.answers([("POST /v1/doses", 201, 50.0), ("POST /v1/doses", 503, 110.0)], [], [], cut).ok
    assert not checks.answers([("POST /v1/doses", 500, 50.0)], [], [], cut).ok
    assert not checks.answers([("POST /v1/doses", 503, 130.0)], [], [], cut).ok
    assert not checks.answers([], [("POST /v1/doses", "503")], [], cut).ok
    assert not checks.answers([], [], [("GET /v1/me", 404, "{}")], cut).ok


# -- reminders -------------------------------------------------------------------------------------

def occurrence_world(status="sent"):
    owed = [("s1", DUE)]
    occurrences = {("s1", DUE): {"id": "o1", "user_id": "u1", "status": status, "sent_at": DUE}}
    devices = {"u1": [{"token": "phone-a", "active": True, "created_at": DUE - dt.timedelta(days=1)},
                      {"token": "phone-b", "active": True, "created_at": DUE - dt.timedelta(days=1)},
                      {"token": "gone", "active": False, "created_at": DUE - dt.timedelta(days=1)}]}
    return owed, occurrences, devices


def test_a_due_reminder_that_never_reached_one_active_device_fails_the_check():
    owed, occurrences, devices = occurrence_world()
    both = [receipt("phone-a", type="reminder", stage="reminder", occurrence_id="o1"),
            receipt("phone-b", type="reminder", stage="reminder", occurrence_id="o1")]
    passed, lags = checks.reminders_reached(owed, occurrences, devices, both)
    assert passed.ok and lags["accepted"] == [20.0, 20.0]
    refused = [both[0], receipt("phone-b", answer="UNAVAILABLE", type="reminder", stage="reminder", occurrence_id="o1")]
    failed, _ = checks.reminders_reached(owed, occurrences, devices, refused)
    assert not failed.ok and "phone-b"[-8:] in failed.details[0]


def test_a_reminder_never_created_or_never_sent_fails_the_check():
    owed, occurrences, devices = occurrence_world()
    assert not checks.reminders_reached(owed, {}, devices, [])[0].ok
    owed, occurrences, devices = occurrence_world(status="pending")
    assert not checks.reminders_reached(owed, occurrences, devices, [])[0].ok


def test_a_device_dropped_without_fcm_saying_its_token_is_gone_fails_the_check():
    _, _, devices = occurrence_world()
    told = [receipt("gone", answer="UNREGISTERED", type="reminder", occurrence_id="o1")]
    assert checks.only_dead_tokens_dropped(devices, ["gone"], told).ok
    assert not checks.only_dead_tokens_dropped(devices, [], told).ok
    devices["u1"][2]["active"] = True
    assert not checks.only_dead_tokens_dropped(devices, ["gone"], told).ok


# -- prompts ---------------------------------------------------------------------------------------

def dose(grams, at=DUE):
    return {"substance_kind": "kratom", "form": "leaf_powder", "unit": "g", "amount": grams, "taken_at": at}


def person(doses=(), checkins=(), zone="UTC"):
    return {"zone": zone, "doses": list(doses), "checkins": list(checkins)}


def prompt(key, user="u1"):
    return {"user_id": user, "rule": key.split(":")[0], "dedupe_key": key}


LIMIT_KEY = "daily_limit:kratom:leaf_powder:g:2026-11-25"


def test_a_daily_limit_passed_without_its_prompt_or_with_two_fails_the_check():
    over = {"u1": person([dose(5), dose(4)])}
    assert checks.prompts_once(over, [prompt(LIMIT_KEY)], 8, "fainting").ok
    assert not checks.prompts_once(over, [], 8, "fainting").ok
    assert not checks.prompts_once(over, [prompt(LIMIT_KEY), prompt(LIMIT_KEY)], 8, "fainting").ok
    # Equal to the limit is within it: a prompt then is one too many.
    assert not checks.prompts_once({"u1": person([dose(4), dose(4)])}, [prompt(LIMIT_KEY)], 8, "fainting").ok


def test_the_local_day_decides_which_daily_limit_prompt_is_expected():
    # 5 g at 23:00 UTC on the 25th and 4 g at 03:00 UTC on the 26th: two days in UTC, neither over;
    # one day in New York (18:00 and 22:00 on the 25th), over.
    evening, night = DUE + dt.timedelta(hours=11), DUE + dt.timedelta(hours=15)
    assert checks.prompts_once({"u1": person([dose(5, evening), dose(4, night)])}, [], 8, "fainting").ok
    new_york = {"u1": person([dose(5, evening), dose(4, night)], zone="America/New_York")}
    assert not checks.prompts_once(new_york, [], 8, "fainting").ok
    assert checks.prompts_once(new_york, [prompt(LIMIT_KEY)], 8, "fainting").ok


def test_an_emergency_check_in_without_its_prompt_or_an_unexplained_prompt_fails_the_check():
    world = {"u1": person(checkins=[{"id": "c1", "side_effects": ["fainting"]}, {"id": "c2", "side_effects": []}])}
    assert checks.prompts_once(world, [prompt("emergency:c1")], 8, "fainting").ok
    assert not checks.prompts_once(world, [], 8, "fainting").ok
    assert not checks.prompts_once(world, [prompt("emergency:c1"), prompt("emergency:c2")], 8, "fainting").ok
    assert not checks.prompts_once(world, [prompt("emergency:c1"), prompt("liver:2026-11-25")], 8, "fainting").ok


def test_an_urgent_prompt_that_never_reached_the_caregiver_fails_the_check():
    devices = {"u1": [{"token": "patient", "active": True, "created_at": DUE}],
               "carer": [{"token": "carer", "active": True, "created_at": DUE}]}
    urgent = [{"id": "p1", "user_id": "u1", "urgent": True, "push_status": "sent"}]
    to_patient = receipt("patient", type="prompt", prompt_id="p1")
    to_carer = receipt("carer", type="alert", prompt_id="p1")
    assert checks.prompts_pushed(urgent, devices, {"u1": ["carer"]}, [to_patient, to_carer]).ok
    assert not checks.prompts_pushed(urgent, devices, {"u1": ["carer"]}, [to_patient]).ok
    assert checks.prompts_pushed([{**urgent[0], "urgent": False}], devices, {"u1": ["carer"]}, [to_patient]).ok
    assert not checks.prompts_pushed([{**urgent[0], "push_status": "pending"}], devices, {}, []).ok


# -- duplicates ------------------------------------------------------------------------------------

def test_a_push_accepted_twice_is_explained_only_by_a_window_around_its_first_copy():
    kill = [{"kind": "sigkill", "start": DUE.timestamp(), "end": DUE.timestamp() + 1}]
    first = receipt("phone-a", at=DUE + dt.timedelta(milliseconds=500), type="reminder", stage="reminder",
                    occurrence_id="o1")
    again = {**first, "at": first["at"] + 30}
    passed, tally = checks.duplicates([first, again], kill)
    assert passed.ok and tally == {"sigkill": 1, "elsewhere": 0}
    late = [{**first, "at": first["at"] + 60}, {**again, "at": again["at"] + 60}]
    failed, tally = checks.duplicates(late, kill)
    assert not failed.ok and tally["elsewhere"] == 1
    # A refused try and its accepted retry are one push; so are two devices, or a reminder and its follow-up.
    refused = {**first, "answer": "UNAVAILABLE", "at": first["at"] + 60}
    other_device = {**first, "token": "phone-b"}
    follow_up = {**first, "data": {**first["data"], "stage": "follow_up"}}
    assert checks.duplicates([refused, first, other_device, follow_up], [])[0].ok


# -- memory ----------------------------------------------------------------------------------------

def test_memory_that_grew_past_the_limit_fails_the_check():
    assert checks.memory_flat({"api-A worker 1": (100 * 2**20, 120 * 2**20)}, 1.5)[0].ok
    assert not checks.memory_flat({"api-A worker 1": (100 * 2**20, 160 * 2**20)}, 1.5)[0].ok
    assert not checks.memory_flat({}, 1.5)[0].ok    # nothing measured is not "flat"


# -- the fake FCM's random errors ------------------------------------------------------------------

def send(fcm, token):
    body = json.dumps({"message": {"token": token, "data": {"n": "1"}}}).encode()
    request = urllib.request.Request(f"{fcm.url}/v1/projects/p/messages:send", data=body, method="POST",
                                     headers={"Authorization": "Bearer t", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, None
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get("Retry-After")


def test_the_fake_fcm_answers_a_share_of_requests_with_errors_and_records_each_answer():
    with FakeFCMServer() as fcm:
        fcm.fail_at_random({"QUOTA_EXCEEDED": 1.0}, retry_after="20")
        fcm.fail("UNREGISTERED", token="dead")
        assert send(fcm, "alive") == (429, "20")
        assert send(fcm, "dead") == (404, None)      # a token's own rule comes first
        fcm.fail_at_random({})
        assert send(fcm, "alive") == (200, None)
        fcm.fail_at_random({"UNAVAILABLE": 0.5}, seed=13)
        statuses = [send(fcm, "alive")[0] for _ in range(40)]
        assert set(statuses) == {200, 503}
        answers = [r.answer for r in fcm.received]
    assert answers[:3] == ["QUOTA_EXCEEDED", "UNREGISTERED", None]
    assert [a == "UNAVAILABLE" for a in answers[3:]] == [s == 503 for s in statuses]


def test_the_fake_fcm_refuses_shares_it_cannot_give():
    with FakeFCMServer() as fcm:
        with pytest.raises(ValueError):
            fcm.fail_at_random({"TEAPOT": 0.1})
        with pytest.raises(ValueError):
            fcm.fail_at_random({"UNAVAILABLE": 0.7, "INTERNAL": 0.7})
