"""GET/PATCH /v1/me and POST/DELETE /v1/devices."""

import datetime as dt
import uuid

import pytest

from backend.accounts.models import User
from backend.push.models import Device
from backend.extensions import db
from tests.support import NOW, assert_problem, count, stored, without_instance


# Profile

def test_a_new_profile_has_discreet_notifications_utc_no_quiet_hours_and_alerts_naming_no_one(client, make_person):
    person = make_person(name="Sam")
    response = client.get("/v1/me", headers=person.headers)
    assert response.status_code == 200
    assert response.json == {
        "id": person.id,
        "display_name": "Sam",
        "timezone": "UTC",
        "quiet_hours": None,
        "notification_privacy": "discreet",
        "name_in_caregiver_alerts": False,
        "created_at": response.json["created_at"],
    }


def test_patching_the_profile_changes_and_stores_every_given_field(app, client, alice):
    changes = {"display_name": "Alice B.", "timezone": "America/New_York",
               "quiet_hours": {"start": "22:00", "end": "07:00"}, "notification_privacy": "detailed"}
    response = client.patch("/v1/me", json=changes, headers=alice.headers)
    assert response.status_code == 200
    assert {name: response.json[name] for name in changes} == changes
    assert client.get("/v1/me", headers=alice.headers).json == response.json
    row = stored(app, User, firebase_uid="alice")
    assert row["timezone"] == "America/New_York"
    assert (row["quiet_hours_start"], row["quiet_hours_end"]) == (dt.time(22, 0), dt.time(7, 0))
    assert row["notification_privacy"] == "detailed"


def test_patching_one_field_leaves_the_others_alone(client, alice):
    client.patch("/v1/me", json={"timezone": "Europe/Berlin", "quiet_hours": {"start": "23:00", "end": "06:30"}},
                 headers=alice.headers)
    response = client.patch("/v1/me", json={"display_name": "Ali"}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json["display_name"] == "Ali"
    assert response.json["timezone"] == "Europe/Berlin"
    assert response.json["quiet_hours"] == {"start": "23:00", "end": "06:30"}
    assert response.json["notification_privacy"] == "discreet"


def test_quiet_hours_can_be_cleared_with_null(app, client, alice):
    client.patch("/v1/me", json={"quiet_hours": {"start": "22:00", "end": "07:00"}}, headers=alice.headers)
    response = client.patch("/v1/me", json={"quiet_hours": None}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json["quiet_hours"] is None
    row = stored(app, User, firebase_uid="alice")
    assert (row["quiet_hours_start"], row["quiet_hours_end"]) == (None, None)


def test_display_name_can_be_cleared_with_null(client, alice):
    response = client.patch("/v1/me", json={"display_name": None}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json["display_name"] is None


def test_patching_the_profile_records_when_it_changed(app, client, alice, clock):
    client.patch("/v1/me", json={"timezone": "Asia/Tokyo"}, headers=alice.headers)
    assert stored(app, User, firebase_uid="alice")["updated_at"] == NOW


@pytest.mark.parametrize("changes, field", [
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "Europe/berlin "}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    # The zoneinfo directory holds `localtime`, a link to whatever zone the server runs in.
    ({"timezone": "localtime"}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"timezone": None}, "timezone"),
    ({"timezone": 1}, "timezone"),
    ({"display_name": ""}, "display_name"),
    ({"display_name": "x" * 81}, "display_name"),
    ({"notification_privacy": "loud"}, "notification_privacy"),
    ({"notification_privacy": None}, "notification_privacy"),
    ({"quiet_hours": {"start": "22:00"}}, "quiet_hours.end"),
    ({"quiet_hours": {"end": "07:00"}}, "quiet_hours.start"),
    ({"quiet_hours": {}}, "quiet_hours.start"),
    ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
    ({"quiet_hours": {"start": "22:00:00", "end": "07:00"}}, "quiet_hours.start"),
    ({"quiet_hours": {"start": "10pm", "end": "07:00"}}, "quiet_hours.start"),
    ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours.end"),
    ({"quiet_hours": {"start": "22:00", "end": "07:00", "days": ["mon"]}}, "quiet_hours.days"),
    ({"quiet_hours": "22:00-07:00"}, "quiet_hours"),
    ({"email": "alice@example.com"}, "email"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"created_at": "2026-01-01T00:00:00Z"}, "created_at"),
])
def test_bad_profile_changes_are_rejected_naming_the_field_and_change_nothing(app, client, alice, changes, field):
    before = client.get("/v1/me", headers=alice.headers).json
    response = client.patch("/v1/me", json=changes, headers=alice.headers)
    assert_problem(response, 422, field)
    assert client.get("/v1/me", headers=alice.headers).json == before


def test_one_bad_field_rejects_the_whole_change(client, alice):
    response = client.patch("/v1/me", json={"display_name": "New", "timezone": "Nowhere/Land"}, headers=alice.headers)
    assert_problem(response, 422, "timezone")
    assert client.get("/v1/me", headers=alice.headers).json["display_name"] == "Alice"


def test_each_person_sees_only_their_own_profile(client, alice, bob):
    client.patch("/v1/me", json={"timezone": "Asia/Tokyo"}, headers=alice.headers)
    assert client.get("/v1/me", headers=bob.headers).json["timezone"] == "UTC"
    assert client.get("/v1/me", headers=bob.headers).json["id"] == bob.id


# Devices

def register(client, person, token="fcm-token-1", platform="android"):
    return client.post("/v1/devices", json={"token": token, "platform": platform}, headers=person.headers)


def test_registering_a_device_stores_it_active(app, client, alice, clock):
    response = register(client, alice, platform="ios")
    assert response.status_code == 201
    assert response.json["platform"] == "ios"
    assert response.json["active"] is True
    assert response.json["last_seen_at"] == "2026-11-25T12:00:00Z"
    assert "token" not in response.json
    row = stored(app, Device, token="fcm-token-1")
    assert str(row["id"]) == response.json["id"]
    assert str(row["user_id"]) == alice.id


def test_registering_the_same_token_twice_keeps_one_device(app, client, alice):
    first = register(client, alice)
    second = register(client, alice)
    assert second.status_code == 201
    assert second.json["id"] == first.json["id"]
    assert count(app, Device) == 1


def test_registering_again_reactivates_a_deactivated_device(app, client, alice, clock):
    device_id = register(client, alice).json["id"]
    with app.app_context():
        device = db.session.get(Device, uuid.UUID(device_id))
        device.active, device.deactivated_reason = False, "unregistered"
        db.session.commit()
    clock.move_to(NOW + dt.timedelta(days=3), tick=False)
    response = register(client, alice, platform="ios")
    assert response.status_code == 201
    assert response.json["id"] == device_id
    assert response.json["active"] is True
    assert response.json["platform"] == "ios"
    assert response.json["last_seen_at"] == "2026-11-28T12:00:00Z"
    row = stored(app, Device, token="fcm-token-1")
    assert (row["active"], row["deactivated_reason"]) == (True, None)


def test_a_token_registered_by_another_user_moves_to_the_new_user(app, client, alice, bob):
    device_id = register(client, alice).json["id"]
    response = register(client, bob)
    assert response.status_code == 201
    assert response.json["id"] == device_id
    assert count(app, Device) == 1
    assert str(stored(app, Device, token="fcm-token-1")["user_id"]) == bob.id
    # The phone is bob's now: alice can no longer remove it.
    assert client.delete(f"/v1/devices/{device_id}", headers=alice.headers).status_code == 404
    assert count(app, Device) == 1
    # Alice is told, in her access log, without learning whose the phone is now.
    [entry] = client.get("/v1/me/access-log", headers=alice.headers).json["items"]
    assert entry["data_kind"] == "device" and entry["viewer_id"] is None
    assert "Bob" not in str(entry)
    assert client.get("/v1/me/access-log", headers=bob.headers).json["items"] == []
    # Registering it again on the same account tells no one anything new.
    register(client, bob)
    assert len(client.get("/v1/me/access-log", headers=alice.headers).json["items"]) == 1


def test_one_person_can_have_several_devices(app, client, alice):
    assert register(client, alice, token="phone").status_code == 201
    assert register(client, alice, token="tablet", platform="ios").status_code == 201
    assert count(app, Device) == 2


def test_removing_a_device_deletes_it(app, client, alice):
    device_id = register(client, alice).json["id"]
    response = client.delete(f"/v1/devices/{device_id}", headers=alice.headers)
    assert response.status_code == 204
    assert response.data == b""
    assert count(app, Device) == 0


def test_removing_a_device_twice_is_not_found_the_second_time(client, alice):
    device_id = register(client, alice).json["id"]
    client.delete(f"/v1/devices/{device_id}", headers=alice.headers)
    assert_problem(client.delete(f"/v1/devices/{device_id}", headers=alice.headers), 404)


def test_removing_another_users_device_is_not_found_and_keeps_it(app, client, alice, bob):
    device_id = register(client, alice).json["id"]
    response = client.delete(f"/v1/devices/{device_id}", headers=bob.headers)
    assert_problem(response, 404)
    unknown = client.delete(f"/v1/devices/{uuid.uuid4()}", headers=bob.headers)
    assert without_instance(response.json) == without_instance(unknown.json)
    assert count(app, Device, user_id=uuid.UUID(alice.id)) == 1


@pytest.mark.parametrize("body, field", [
    ({"token": "t", "platform": "windows"}, "platform"),
    ({"token": "t", "platform": None}, "platform"),
    ({"token": "t"}, "platform"),
    ({"platform": "android"}, "token"),
    ({"token": "", "platform": "android"}, "token"),
    ({"token": "t" * 1025, "platform": "android"}, "token"),
    ({"token": 12345, "platform": "android"}, "token"),
    ({"token": "t", "platform": "android", "user_id": str(uuid.uuid4())}, "user_id"),
    ({"token": "t", "platform": "android", "active": False}, "active"),
])
def test_bad_device_registrations_are_rejected_and_store_nothing(app, client, alice, body, field):
    assert_problem(client.post("/v1/devices", json=body, headers=alice.headers), 422, field)
    assert count(app, Device) == 0
