"""Reads of a patient's data by someone who may see it, each written to the patient's access log.

Every `/v1/patients/{id}/…` read starts with `scoped_read`: the live share and its scopes are
checked on every request (a share ended a moment ago is a 404 now) and the reading is logged in
the same transaction as the response's commit. What the reader may see travels on as data (a
`Reading`), never through request globals. The report page behind a report link is logged here too.
"""

import dataclasses

from backend.accounts.models import User
from backend.checkins.services import list_checkins
from backend.doses.services import list_doses
from backend.extensions import db
from backend.monitoring.services import list_prompts, shown_to
from backend.reports.report import build_report
from backend.reports.summary import DEFAULT_SPAN, summarize
from backend.sharing import services as sharing
from backend.sharing.models import SCOPES, Share
from backend.sqltypes import utcnow


@dataclasses.dataclass(frozen=True)
class Reading:
    """What one viewer may read of one patient, decided once per request."""

    patient: User
    share: Share | None  # None: the patient reading their own data
    scopes: tuple[str, ...]
    notes_visible: bool


def scoped_read(viewer, patient_id, scope, client) -> Reading:
    """Let `viewer` read `scope` (summary, checkins, doses or prompts) of the patient's data, and log it.

    No live share: 404, the same as for a patient who does not exist; outside the share's scopes:
    403. The patient reading their own data needs no share, and is not logged.
    """
    share = sharing.viewer_share(viewer, patient_id, scope)
    scopes = tuple(share.scopes) if share is not None else SCOPES
    sharing.log_access(patient_id, scope, client, viewer=viewer)
    return Reading(patient=sharing.patient_of(patient_id), share=share, scopes=scopes,
                   notes_visible="notes" in scopes)


def patient_summary(viewer, patient_id, args, client, now=None):
    """The patient's summary over `since`..`until` (the last 30 days by default), within the scopes."""
    reading = scoped_read(viewer, patient_id, "summary", client)
    until = args.get("until") or now or utcnow()
    since = args.get("since") or until - DEFAULT_SPAN
    return summarize(reading.patient, since, until, reading.scopes)


def patient_checkins(viewer, patient_id, args, client):
    """A page of the patient's check-ins, newest first, and whether their notes may be shown."""
    reading = scoped_read(viewer, patient_id, "checkins", client)
    items, next_cursor = list_checkins(reading.patient, args)
    return {"items": items, "next_cursor": next_cursor, "notes_visible": reading.notes_visible}


def patient_doses(viewer, patient_id, args, client):
    """A page of the patient's doses, newest first, and whether their notes may be shown."""
    reading = scoped_read(viewer, patient_id, "doses", client)
    items, next_cursor = list_doses(reading.patient, args)
    return {"items": items, "next_cursor": next_cursor, "notes_visible": reading.notes_visible}


def patient_prompts(viewer, patient_id, args, client):
    """A page of the patient's monitoring prompts, newest first."""
    reading = scoped_read(viewer, patient_id, "prompts", client)
    items, next_cursor = list_prompts(reading.patient, args)
    return {"items": [shown_to(prompt, reading.scopes) for prompt in items], "next_cursor": next_cursor}


def view_report(token, client, now=None):
    """The report behind a report-link token, with the viewing written to the patient's access log;
    None for an unknown, revoked or expired token alike."""
    now = now or utcnow()
    link = sharing.report_link_for_token(token, now)
    if link is None:
        return None
    patient = sharing.patient_of(link.patient_id)
    report = build_report(patient, link, now)
    sharing.log_access(patient.id, "report", client, link=link, now=now)
    link.last_viewed_at = now
    db.session.flush()
    return report
