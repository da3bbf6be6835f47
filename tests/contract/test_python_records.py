"""Doses and reminders through the generated Python client: each created with its create model, read
as its read model and corrected with its update model, against a live server."""

import datetime as dt
import uuid
from http import HTTPStatus

import attrs
import pytest

from tests.support import UTC


def test_a_dose_is_created_and_corrected(api, models, doses, clock):
    body = models.DoseCreate(
        id=uuid.uuid4(), taken_at=dt.datetime(2026, 11, 20, 9, tzinfo=UTC),
        substance_kind=models.SubstanceKind.KRATOM, form=models.Form.LEAF_POWDER,
        product="Green Malay", amount=2.5, unit=models.Unit.G)

    created = doses.post_doses.sync_detailed(client=api, body=body)

    assert created.status_code == HTTPStatus.CREATED
    dose = created.parsed
    assert isinstance(dose, models.Dose)
    assert (dose.id, dose.amount, dose.unit, dose.substance_kind) == (
        body.id, 2.5, models.Unit.G, models.SubstanceKind.KRATOM)

    corrected = doses.patch_dose_by_id.sync_detailed(
        dose.id, client=api, body=models.DosePatch(amount=3.0), if_match=created.headers["ETag"])

    assert corrected.status_code == HTTPStatus.OK
    assert isinstance(corrected.parsed, models.Dose)
    assert corrected.parsed.amount == 3.0
    assert (corrected.parsed.product, corrected.parsed.form) == (dose.product, dose.form)
    assert corrected.headers["ETag"] != created.headers["ETag"]


def test_a_reminder_is_created_with_only_its_required_fields(api, models, reminders, clock):
    body = models.ReminderCreate(id=uuid.uuid4(), kind=models.ReminderKind.CHECKIN, times=["09:00"])

    created = reminders.post_reminders.sync_detailed(client=api, body=body)

    assert created.status_code == HTTPStatus.CREATED
    reminder = created.parsed
    assert isinstance(reminder, models.Reminder)
    assert reminder.active is True
    assert [day.value for day in reminder.days] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert reminder.timezone is None
    assert isinstance(reminder.next_fire_at, dt.datetime)


def test_a_reminder_read_back_is_updated_through_its_update_model(api, models, reminders, clock):
    created = reminders.post_reminders.sync_detailed(client=api, body=models.ReminderCreate(
        id=uuid.uuid4(), kind=models.ReminderKind.CHECKIN, times=["09:00"], label="Morning"))
    assert created.status_code == HTTPStatus.CREATED
    read = reminders.get_reminder_by_id.sync_detailed(created.parsed.id, client=api)
    assert read.status_code == HTTPStatus.OK

    # What an edit screen does: the read reminder as the update model, one field changed.
    change = models.ReminderPatch.from_dict(read.parsed.to_dict())
    change.times = ["10:00", "21:00"]
    updated = reminders.patch_reminder_by_id.sync_detailed(
        read.parsed.id, client=api, body=change, if_match=read.headers["ETag"])

    assert updated.status_code == HTTPStatus.OK, updated.content
    assert isinstance(updated.parsed, models.Reminder)
    assert updated.parsed.times == ["10:00", "21:00"]
    assert updated.parsed.label == "Morning"


def test_an_update_model_with_one_field_changes_only_that_field(api, models, reminders, clock):
    created = reminders.post_reminders.sync_detailed(client=api, body=models.ReminderCreate(
        id=uuid.uuid4(), kind=models.ReminderKind.DOSE, times=["09:00"], active=False,
        confirm_within_minutes=30, alert_caregivers=True))
    assert created.status_code == HTTPStatus.CREATED

    updated = reminders.patch_reminder_by_id.sync_detailed(
        created.parsed.id, client=api, body=models.ReminderPatch(label="Evening pill"))

    assert updated.status_code == HTTPStatus.OK, updated.content
    assert updated.parsed.label == "Evening pill"
    assert (updated.parsed.active, updated.parsed.alert_caregivers) == (False, True)


STAMPS = {"created_at", "updated_at"}


@pytest.mark.parametrize(("record", "server_owned"), [
    ("CheckIn", STAMPS | {"peg_score", "phq2_score", "gad2_score"}),
    ("Dose", STAMPS),
    ("Reminder", STAMPS | {"next_fire_at"}),
])
def test_the_create_and_update_models_hold_only_what_a_person_writes(models, record, server_owned):
    read = set(attrs.fields_dict(getattr(models, record)))
    create = set(attrs.fields_dict(getattr(models, f"{record}Create")))
    update = set(attrs.fields_dict(getattr(models, f"{record}Patch")))

    assert server_owned <= read
    assert create == read - server_owned
    assert update <= create - {"id"}
