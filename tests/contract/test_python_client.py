"""The Python client openapi-python-client generates from openapi.yaml works against a live
server: its functions send what the server takes, and they hand back the generated model classes,
problems included, never raw dicts."""

import datetime as dt
import uuid
from http import HTTPStatus

from tests.support import UTC


def new_checkin(models, recorded_at, **answers):
    return models.CheckInCreate(id=uuid.uuid4(), recorded_at=recorded_at, **answers)


def test_a_check_in_is_created_and_read_back_as_the_generated_model(api, models, checkins, clock):
    recorded_at = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    body = new_checkin(models, recorded_at, pain=7, enjoyment_interference=5, activity_interference=6,
                       mood=4, side_effects=[models.SideEffect.DIZZINESS])

    created = checkins.post_check_ins.sync_detailed(client=api, body=body)

    assert created.status_code == HTTPStatus.CREATED
    checkin = created.parsed
    assert isinstance(checkin, models.CheckIn)
    assert checkin.id == body.id
    assert checkin.recorded_at == dt.datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert checkin.peg_score == 6.0
    assert checkin.side_effects == [models.SideEffect.DIZZINESS]
    assert created.headers["ETag"]

    read = checkins.get_check_in_by_id.sync_detailed(checkin.id, client=api)
    assert read.status_code == HTTPStatus.OK
    assert read.parsed == checkin
    assert read.headers["ETag"] == created.headers["ETag"]


def test_pages_of_check_ins_follow_next_cursor_to_the_end(api, models, checkins, clock):
    first = dt.datetime(2026, 11, 20, 8, tzinfo=UTC)
    created = []
    for hour in range(5):
        response = checkins.post_check_ins.sync_detailed(
            client=api, body=new_checkin(models, first + dt.timedelta(hours=hour), mood=hour))
        assert response.status_code == HTTPStatus.CREATED
        created.append(response.parsed.id)

    pages, cursor = [], None
    while True:
        page = checkins.get_check_ins.sync(client=api, limit=2, **({"cursor": cursor} if cursor else {}))
        assert isinstance(page, models.CheckInPage)
        assert all(isinstance(item, models.CheckIn) for item in page.items)
        pages.append([item.id for item in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [len(ids) for ids in pages] == [2, 2, 1]
    assert [id_ for ids in pages for id_ in ids] == created[::-1]


def test_bad_input_reads_as_a_422_problem_naming_the_field(api, models, checkins, clock):
    body = new_checkin(models, dt.datetime(2026, 11, 20, 8, tzinfo=UTC), pain=11)

    response = checkins.post_check_ins.sync_detailed(client=api, body=body)

    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    problem = response.parsed
    assert isinstance(problem, models.Problem)
    assert problem.status == 422
    assert [(type(error), error.field, error.pointer) for error in problem.errors] == [(models.FieldError, "pain", "#/pain")]


def test_a_missing_check_in_reads_as_a_404_problem(api, models, checkins, clock):
    response = checkins.get_check_in_by_id.sync_detailed(uuid.uuid4(), client=api)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert isinstance(response.parsed, models.Problem)
    assert response.parsed.status == 404


def test_a_request_without_a_token_reads_as_a_401_problem(careloop_client, live_server, models, checkins, clock):
    with careloop_client.Client(base_url=live_server, raise_on_unexpected_status=True) as anonymous:
        response = checkins.get_check_ins.sync_detailed(client=anonymous)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert isinstance(response.parsed, models.Problem)
    assert response.parsed.status == 401


def test_a_patch_with_a_stale_if_match_reads_as_a_412_problem(api, models, checkins, clock):
    created = checkins.post_check_ins.sync_detailed(
        client=api, body=new_checkin(models, dt.datetime(2026, 11, 20, 8, tzinfo=UTC), pain=5))
    assert created.status_code == HTTPStatus.CREATED
    read_etag = created.headers["ETag"]
    corrected = checkins.patch_check_in_by_id.sync_detailed(
        created.parsed.id, client=api, body=models.CheckInPatch(pain=6), if_match=read_etag)
    assert corrected.status_code == HTTPStatus.OK
    assert corrected.parsed.pain == 6

    stale = checkins.patch_check_in_by_id.sync_detailed(
        created.parsed.id, client=api, body=models.CheckInPatch(pain=7), if_match=read_etag)

    assert stale.status_code == HTTPStatus.PRECONDITION_FAILED
    assert isinstance(stale.parsed, models.Problem)
    assert stale.parsed.status == 412
    assert stale.headers["ETag"] == corrected.headers["ETag"]
