"""Export use cases: gather everything a person has and render it as JSON, CSV files or FHIR.

The export reads the person's own rows only. Other people appear by display name, never by their
internal ids. No secret goes out: push tokens are credentials (whoever holds one can push to that
phone), so only their last characters do, and invite codes and report-link tokens were only ever
stored as hashes, which are left out.
"""

import csv
import dataclasses
import io
import json
import zipfile

import marshmallow as ma
import sqlalchemy as sa

from backend.accounts.models import Device, User
from backend.checkins.models import CheckIn
from backend.doses.models import Dose
from backend.export import fhir
from backend.export.schemas import ExportSchema
from backend.extensions import db
from backend.monitoring.models import Prompt
from backend.monitoring.plan import effective_plan
from backend.push.models import PushDelivery
from backend.reminders.models import ReminderOccurrence, ReminderSchedule
from backend.sharing.models import AccessLogEntry, ReportLink, Share, ShareInvite
from backend.sqltypes import utcnow

# Every table that holds a person's rows, by the export section that carries it. The events outbox
# is left out on purpose: it is an internal work queue whose entries only point at exported rows.
SECTION_TABLES = {
    "profile": "users", "plan": "plans", "devices": "devices", "checkins": "checkins", "doses": "doses",
    "reminders": "reminder_schedules", "reminder_occurrences": "reminder_occurrences", "prompts": "prompts",
    "pushes": "push_deliveries", "shares": "shares", "invites": "share_invites", "report_links": "report_links",
    "access_log": "access_log",
}
NOT_EXPORTED = {"events": "internal work queue; its entries point at exported rows"}

# Free text that starts like a formula runs as one when a CSV file is opened in a spreadsheet
# (OWASP "CSV injection"); a leading apostrophe makes the cell plain text there.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclasses.dataclass(frozen=True)
class Download:
    body: bytes
    mimetype: str
    filename: str


def _all(query):
    return db.session.scalars(query).all()


def _live(model, uid):
    """The person's records that are not tombstones."""
    return sa.select(model).where(model.user_id == uid, model.deleted_at.is_(None))


def gather(user, now):
    """The person's rows, shaped for ExportSchema (oldest first)."""
    uid = user.id
    own_occurrences = sa.select(ReminderOccurrence.id).where(ReminderOccurrence.user_id == uid)
    own_prompts = sa.select(Prompt.id).where(Prompt.user_id == uid)
    shares = _all(sa.select(Share).where(sa.or_(Share.patient_id == uid, Share.viewer_id == uid))
                  .order_by(Share.created_at))
    invites = _all(sa.select(ShareInvite).where(ShareInvite.patient_id == uid).order_by(ShareInvite.created_at))
    return {
        "exported_at": now,
        "profile": user,
        "plan": effective_plan(user),
        "devices": _all(sa.select(Device).where(Device.user_id == uid).order_by(Device.created_at)),
        "checkins": _all(_live(CheckIn, uid).order_by(CheckIn.recorded_at, CheckIn.id)),
        "doses": _all(_live(Dose, uid).order_by(Dose.taken_at, Dose.id)),
        "reminders": _all(_live(ReminderSchedule, uid).order_by(ReminderSchedule.created_at, ReminderSchedule.id)),
        "reminder_occurrences": _all(sa.select(ReminderOccurrence).where(ReminderOccurrence.user_id == uid)
                                     .order_by(ReminderOccurrence.due_at, ReminderOccurrence.id)),
        "prompts": _all(sa.select(Prompt).where(Prompt.user_id == uid).order_by(Prompt.created_at, Prompt.id)),
        # Only pushes to the person's own devices about their own reminders and prompts: an alert
        # about someone else's prompt is theirs.
        "pushes": _all(sa.select(PushDelivery).where(
            PushDelivery.device_id.in_(sa.select(Device.id).where(Device.user_id == uid)),
            sa.or_(PushDelivery.occurrence_id.in_(own_occurrences), PushDelivery.prompt_id.in_(own_prompts)))
            .order_by(PushDelivery.created_at, PushDelivery.id)),
        "shares": [_share(share, uid) for share in shares],
        "invites": [_invite(invite, now) for invite in invites],
        "report_links": _all(sa.select(ReportLink).where(ReportLink.patient_id == uid)
                             .order_by(ReportLink.created_at)),
        "access_log": _all(sa.select(AccessLogEntry).where(AccessLogEntry.patient_id == uid)
                           .order_by(AccessLogEntry.at, AccessLogEntry.id)),
    }


def _share(share, uid):
    mine = share.patient_id == uid
    other = db.session.get(User, share.viewer_id if mine else share.patient_id)
    return {"id": share.id, "as": "patient" if mine else "viewer", "other_person": other.display_name,
            "role": share.role, "scopes": share.scopes, "alerts": share.alerts, "created_at": share.created_at,
            "revoked_at": share.revoked_at, "revoked_by": share.revoked_by}


def _invite(invite, now):
    return {"id": invite.id, "role": invite.role, "scopes": invite.scopes, "alerts": invite.alerts,
            "state": invite.state(now), "expires_at": invite.expires_at, "created_at": invite.created_at,
            "accepted_at": invite.accepted_at, "revoked_at": invite.revoked_at}


def export_document(user, now=None):
    """Everything the person has, as the JSON document of ExportSchema."""
    return ExportSchema().dump(gather(user, now or utcnow()))


def export_account(user, fmt, now=None):
    """The person's export in one of the formats, ready to download."""
    now = now or utcnow()
    stem = f"careloop-export-{now:%Y-%m-%d}"
    if fmt == "fhir":
        bundle = fhir.bundle(gather(user, now))
        return Download(_json(bundle), fhir.MIMETYPE, f"{stem}.fhir.json")
    document = export_document(user, now)
    if fmt == "csv":
        return Download(csv_archive(document), "application/zip", f"{stem}.zip")
    return Download(_json(document), "application/json", f"{stem}.json")


def _json(document):
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def csv_archive(document):
    """A ZIP archive with one CSV file per section of the export document, with a header row even
    when a section is empty. Nested objects spread into `name.field` columns, lists become `a;b`
    cells, and free-form objects (a prompt's evidence, the plan's substances) JSON text."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, field in ExportSchema().dump_fields.items():
            if isinstance(field, ma.fields.List):
                schema, rows = field.inner.schema, document[name]
            elif isinstance(field, ma.fields.Nested):
                schema, rows = field.schema, [document[name]]
            else:
                continue
            columns = _columns(schema)
            lines = [[_cell(_pick(row, column)) for column in columns] for row in rows]
            archive.writestr(f"{name}.csv", _csv_text([".".join(column) for column in columns], lines))
    return buffer.getvalue()


def _columns(schema):
    """The schema's fields in order as key paths, nested objects spread out."""
    columns = []
    for field_name, field in schema.dump_fields.items():
        key = field.data_key or field_name
        if isinstance(field, ma.fields.Nested) and not field.many:
            columns += [(key, *sub) for sub in _columns(field.schema)]
        else:
            columns.append((key,))
    return columns


def _pick(row, path):
    for key in path:
        if row is None:
            return None
        row = row.get(key)
    return row


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        value = ";".join(str(item) for item in value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_text(header, lines):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(lines)
    # With a byte-order mark, spreadsheet programs read the file as UTF-8, not in a local code page.
    return out.getvalue().encode("utf-8-sig")
