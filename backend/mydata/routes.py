"""`GET /v1/me/export` and `DELETE /v1/me` (the profile's other methods are accounts')."""

from flask import current_app, g
from flask.views import MethodView

from backend.api import Blueprint
from backend.accounts.auth import authenticate, current_user, forget_account
from backend.extensions import limiter
from backend.mydata import fhir, services
from backend.mydata.schemas import AccountDeletionSchema, ExportQuerySchema, ExportSchema, FhirBundleSchema

blp = Blueprint("mydata", __name__, url_prefix="/v1",
                description="My data: export of everything a person has, and deleting the account")
blp.before_request(authenticate)

DOWNLOAD_HEADERS = {
    "Content-Disposition": {"description": "attachment, with a file name", "schema": {"type": "string"}},
    "Cache-Control": {"description": "no-store: health data stays out of caches", "schema": {"type": "string"}},
}


def account_key():
    return str(g.user.id)


def _succeeded(response):
    return response.status_code < 400


# An export reads every row a person has: a handful an hour is plenty, a loop is a load problem.
# One budget for the three formats.
EXPORT_LIMIT = limiter.shared_limit("30 per hour", scope="export", key_func=account_key, deduct_when=_succeeded)


def download(fmt):
    """The person's export in `fmt`, as a file to save."""
    download = services.export_account(current_user(), fmt)
    response = current_app.response_class(download.body, mimetype=download.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# Each format has its own address and one response type, so generated clients read each right.
@blp.route("/me/export")
class Export(MethodView):
    decorators = [EXPORT_LIMIT]

    @blp.arguments(ExportQuerySchema, location="query")
    @blp.response(200, ExportSchema, headers=DOWNLOAD_HEADERS)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def get(self, args):
        """Download everything I have as one JSON document."""
        return download("json")


@blp.route("/me/export/csv")
class ExportCsv(MethodView):
    decorators = [EXPORT_LIMIT]

    @blp.response(200, {"type": "string", "format": "binary"}, content_type="application/zip",
                  description="A ZIP archive of CSV files, one per part of the JSON export", headers=DOWNLOAD_HEADERS)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def get(self):
        """Download everything I have as CSV files (one per table) in a ZIP archive."""
        return download("csv")


@blp.route("/me/export/fhir")
class ExportFhir(MethodView):
    decorators = [EXPORT_LIMIT]

    @blp.response(200, FhirBundleSchema, content_type=fhir.MIMETYPE, headers=DOWNLOAD_HEADERS,
                  description="A FHIR R4 Bundle of type collection: Patient, check-in Observations, dose "
                              "MedicationStatements")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def get(self):
        """Download everything I have as a FHIR R4 Bundle."""
        return download("fhir")


# The same rule as accounts' profile view: Flask picks the view by method, and the spec merges the
# operations of both under one path.
@blp.route("/me")
class MyAccount(MethodView):
    @blp.arguments(AccountDeletionSchema)
    @blp.response(204)
    def delete(self, confirmation):
        """Delete my account and all my data, at once and for good (export it first)."""
        user = current_user()
        services.delete_account(user)
        forget_account(user.id)
