"""Reports fixtures (copied from tests/sharing/conftest.py, which the sharing tests keep): the frozen
clock at 08:00, people with distinctive ids, and factories for invites and shares."""

import pytest

from tests import support

# The shared NOW's morning (a Wednesday, 08:00 UTC): the report pages say when they were made, and
# the default check-in and dose of tests/support.py lie five days before.
NOW = support.NOW.replace(hour=8)
DEFAULT_SCOPES = ["checkins", "doses"]


@pytest.fixture
def clock(clock):
    """The shared frozen clock, moved back to this morning's NOW."""
    clock.move_to(NOW, tick=False)
    return clock


# Firebase uids no real text would contain, so that a leak of one is found by a plain search.
# People are created after the clock is frozen, so their tokens are issued in frozen time.
@pytest.fixture
def alice(clock, make_person):
    return make_person("uid-alice-7q4w", name="Alice")


@pytest.fixture
def bob(clock, make_person):
    return make_person("uid-bob-2k8d", name="Bob")


@pytest.fixture
def create_invite(client):
    """Factory: the patient makes an invite; returns the response JSON (code included)."""
    def create(patient, **fields):
        body = {"role": "caregiver", "scopes": DEFAULT_SCOPES, **fields}
        response = client.post("/v1/shares/invites", json=body, headers=patient.headers)
        assert response.status_code == 201, response.json
        return response.json
    return create


@pytest.fixture
def create_share(client, create_invite):
    """Factory: the patient invites the viewer, who accepts the code; returns the share JSON."""
    def create(patient, viewer, scopes=DEFAULT_SCOPES, **fields):
        code = create_invite(patient, scopes=list(scopes), **fields)["code"]
        response = client.post("/v1/shares/accept", json={"code": code}, headers=viewer.headers)
        assert response.status_code == 201, response.json
        return response.json
    return create


def access_log(client, patient):
    response = client.get("/v1/me/access-log", headers=patient.headers)
    assert response.status_code == 200, response.json
    return response.json["items"]
