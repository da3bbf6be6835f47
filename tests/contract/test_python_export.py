"""The data export through the generated Python client: one operation, one answer type per format
(the JSON document as the Export model, the CSV files as a ZIP archive's bytes, FHIR as a Bundle)."""

import csv
import datetime as dt
import io
import uuid
import zipfile
from http import HTTPStatus

import pytest

from tests.support import UTC


@pytest.fixture
def checkin(api, models, checkins):
    """One check-in of Alice's, created through the client."""
    body = models.CheckInCreate(id=uuid.uuid4(), recorded_at=dt.datetime(2026, 11, 20, 8, tzinfo=UTC), pain=4)
    created = checkins.post_check_ins.sync_detailed(client=api, body=body)
    assert created.status_code == HTTPStatus.CREATED
    return created.parsed


def test_the_json_export_reads_as_the_export_model(api, models, mydata, checkin, alice, clock):
    response = mydata.get_export.sync_detailed(client=api)

    assert response.status_code == HTTPStatus.OK
    export = response.parsed
    assert isinstance(export, models.Export)
    assert str(export.profile.id) == alice.id
    assert export.checkins == [checkin]
    assert export.exported_at == dt.datetime(2026, 11, 25, 12, tzinfo=UTC)


def test_the_csv_export_reads_as_the_bytes_of_a_zip_archive(careloop_client, api, mydata, checkin, clock):
    response = mydata.get_export_csv.sync_detailed(client=api)

    assert response.status_code == HTTPStatus.OK
    assert isinstance(response.parsed, careloop_client.types.File)
    archive = zipfile.ZipFile(response.parsed.payload)
    rows = list(csv.DictReader(io.StringIO(archive.read("checkins.csv").decode("utf-8-sig"))))
    assert [(row["id"], row["pain"]) for row in rows] == [(str(checkin.id), "4")]


def test_the_fhir_export_reads_as_a_bundle(api, models, mydata, checkin, clock):
    response = mydata.get_export_fhir.sync_detailed(client=api)

    assert response.status_code == HTTPStatus.OK
    bundle = response.parsed
    assert isinstance(bundle, models.FhirBundle)
    assert (bundle.resource_type, bundle.type_) == (models.FhirBundleResourceType.BUNDLE,
                                                    models.FhirBundleType.COLLECTION)
    # Entries are free-form objects in the contract: the client hands them back as mappings.
    observations = [entry["resource"] for entry in bundle.entry if entry["resource"]["resourceType"] == "Observation"]
    assert observations
