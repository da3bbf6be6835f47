"""`GET /v1/me/export` and `DELETE /v1/me` (the profile's other methods are accounts')."""

from flask import current_app, g
from flask.views import MethodView

from backend.api import Blueprint
from backend.accounts.auth import authenticate, current_user
from backend.extensions import limiter
from backend.mydata import fhir, services
from backend.mydata.schemas import AccountDeletionSchema, ExportQuerySchema, ExportSchema, FhirBundleSchema

blp = Blueprint("mydata", __name__, url_prefix="/v1",
                description="My data: export of everything a person has, and deleting the account")
blp.before_request(authenticate)

# One 200 response with a media type per `format`.
DESCRIPTION = ("As `format` asks: `json` one JSON document, `csv` a ZIP archive of CSV files (one per table), "
               "`fhir` a FHIR R4 Bundle of type collection")
DOWNLOAD_HEADERS = {
    "Content-Disposition": {"description": "attachment, with a file name", "schema": {"type": "string"}},
    "Cache-Control": {"description": "no-store: health data stays out of caches", "schema": {"type": "string"}},
}


def account_key():
    return str(g.user.id)


def _succeeded(response):
    return response.status_code < 400


@blp.route("/me/export")
class Export(MethodView):
    # An export reads every row a person has: a handful an hour is plenty, a loop is a load problem.
    decorators = [limiter.limit("30 per hour", key_func=account_key, deduct_when=_succeeded)]

    @blp.arguments(ExportQuerySchema, location="query")
    @blp.response(200, ExportSchema, description=DESCRIPTION, headers=DOWNLOAD_HEADERS)
    @blp.alt_response(200, success=True, content_type="application/zip", description=DESCRIPTION,
                      schema={"type": "string", "contentMediaType": "application/zip"})
    @blp.alt_response(200, success=True, content_type=fhir.MIMETYPE, schema=FhirBundleSchema,
                      description=DESCRIPTION)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def get(self, args):
        """Download everything I have: JSON, CSV files in a ZIP archive, or a FHIR R4 Bundle."""
        download = services.export_account(current_user(), args["format"])
        response = current_app.response_class(download.body, mimetype=download.mimetype)
        response.headers["Content-Disposition"] = f'attachment; filename="{download.filename}"'
        response.headers["Cache-Control"] = "no-store"
        return response


# The same rule as accounts' profile view: Flask picks the view by method, and the spec merges the
# operations of both under one path.
@blp.route("/me")
class MyAccount(MethodView):
    @blp.arguments(AccountDeletionSchema)
    @blp.response(204)
    def delete(self, confirmation):
        """Delete my account and all my data, at once and for good (export it first)."""
        services.delete_account(current_user())
