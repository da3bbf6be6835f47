"""My data's use cases: gather everything a person has and render it as JSON, CSV files or FHIR,
and delete it all. Both go through the features' parts (`backend.mydata.parts`) and nothing else.

The export reads the person's own rows only. Other people appear by display name, never by their
internal ids. No secret goes out: push tokens are credentials (whoever holds one can push to that
phone), so only their last characters do, and invite codes and report-link tokens were only ever
stored as hashes, which are left out.

Deletion runs each part's statements in the order of PARTS, children before parents, so the
outcome does not hang on the database enforcing its foreign keys. The ON DELETE CASCADE
constraints still back it up on PostgreSQL, should a jobs process insert a push delivery for the
person between these statements and the commit. What outlives the account is in the parts' `kept`.
"""

import csv
import dataclasses
import io
import json
import logging
import zipfile

import marshmallow as ma

from backend.extensions import db
from backend.mydata import fhir
from backend.mydata.parts import PARTS
from backend.mydata.schemas import ExportSchema
from backend.sqltypes import utcnow

log = logging.getLogger(__name__)

# Free text that starts like a formula runs as one when a CSV file is opened in a spreadsheet
# (OWASP "CSV injection"); a leading apostrophe makes the cell plain text there.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclasses.dataclass(frozen=True)
class Download:
    body: bytes
    mimetype: str
    filename: str


def gather(user, now):
    """The person's rows, shaped for ExportSchema (oldest first): every part's sections."""
    data = {"exported_at": now}
    for part in PARTS:
        if part.export is not None:
            data.update(part.export(user, now))
    return data


def delete_account(user):
    """Remove the person and everything that is theirs; returns the number of rows per table."""
    counts = {}
    for part in PARTS:
        counts.update(part.purge(user))
    db.session.expunge_all()  # the session's copies of these rows describe nothing any more
    # Counts only: the log must not keep who the deleted person was.
    log.info("account deleted: %s", ", ".join(f"{table} {n}" for table, n in counts.items() if n))
    return counts


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
