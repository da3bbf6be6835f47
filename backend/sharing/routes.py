"""/v1/shares, /v1/report-links and /v1/me/access-log. (What a share lets someone read is served by
backend/reports.)"""

from flask import request
from flask.views import MethodView

from backend.api import Blueprint, RangeQuerySchema, patch_schema
from backend.accounts.auth import authenticate, current_user
from backend.budgets import GuessBudget
from backend.sharing import services
from backend.sharing.schemas import (AcceptSchema, AccessLogPageSchema, InviteCreateSchema, InviteListSchema,
                                     NewInviteSchema, NewReportLinkSchema, ReportLinkCreateSchema,
                                     ReportLinkListSchema, ShareListSchema, SharePatchSchema, ShareQuerySchema,
                                     ShareSchema)
from backend.sqltypes import utcnow

blp = Blueprint("sharing", __name__, url_prefix="/v1", description="Sharing with caregivers and clinicians")
blp.before_request(authenticate)


# Invite codes: tries per account and per address, and a ceiling for everyone together, each
# counted before the code is looked at (see backend.budgets).
INVITE_GUESSES = GuessBudget("invite-codes", ceiling="500 per hour", limits={
    "account": "5 per 10 minutes; 20 per day", "address": "20 per 10 minutes; 100 per day"})


def _present_share(share):
    return {**{c: getattr(share, c) for c in ("id", "role", "scopes", "alerts", "created_at", "revoked_at",
                                                "revoked_by")},
            "patient": services.patient_of(share.patient_id), "viewer": services.patient_of(share.viewer_id)}


def _present_invite(invite, now, code=None):
    data = {c: getattr(invite, c) for c in ("id", "role", "scopes", "alerts", "expires_at", "created_at")}
    data["state"] = invite.state(now)
    if code:
        data["code"] = code
        data["link"] = f"careloop://invite/{code}"
    return data


@blp.route("/shares/invites")
class Invites(MethodView):
    @blp.response(200, InviteListSchema)
    def get(self):
        """List the invites I made."""
        now = utcnow()
        return {"items": [_present_invite(i, now) for i in services.list_invites(current_user())]}

    @blp.arguments(InviteCreateSchema)
    @blp.response(201, NewInviteSchema)
    def post(self, data):
        """Invite a caregiver or clinician: a one-time code, shown only in this response."""
        invite, code = services.create_invite(current_user(), data)
        return _present_invite(invite, utcnow(), code)


@blp.route("/shares/invites/<uuid:invite_id>")
class InviteById(MethodView):
    @blp.response(204)
    def delete(self, invite_id):
        """Withdraw an invite that was not accepted yet."""
        services.revoke_invite(current_user(), invite_id)


@blp.route("/shares/accept")
class Accept(MethodView):
    @blp.arguments(AcceptSchema)
    @blp.response(201, ShareSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, data):
        """Accept an invite code and become linked to the patient who made it (5 tries per 10 minutes)."""
        user = current_user()
        spent = INVITE_GUESSES.spend(account=user.id, address=request.remote_addr)
        share = services.accept_invite(user, data["code"])
        spent.refund()
        return _present_share(share)


@blp.route("/shares")
class Shares(MethodView):
    @blp.arguments(ShareQuerySchema, location="query")
    @blp.response(200, ShareListSchema)
    def get(self, args):
        """List my shares, as the patient and as a caregiver or clinician."""
        return {"items": [_present_share(s) for s in services.list_shares(current_user(), args)]}


@blp.route("/shares/<uuid:share_id>")
class ShareById(MethodView):
    @blp.arguments(patch_schema(SharePatchSchema))
    @blp.response(200, ShareSchema)
    def patch(self, changes, share_id):
        """Change what a share lets the other person see (the patient only)."""
        share = services.update_share(current_user(), share_id, changes)
        return _present_share(share)

    @blp.response(204)
    def delete(self, share_id):
        """End a share, from either side; it takes effect on the very next request."""
        services.revoke_share(current_user(), share_id)


@blp.route("/report-links")
class ReportLinks(MethodView):
    @blp.response(200, ReportLinkListSchema)
    def get(self):
        """List my clinician report links."""
        return {"items": services.list_report_links(current_user())}

    @blp.arguments(ReportLinkCreateSchema)
    @blp.response(201, NewReportLinkSchema)
    def post(self, data):
        """Create a read-only report link for a clinician (the address is shown only here)."""
        link, token = services.create_report_link(current_user(), data)
        link.url = services.report_url(token)
        return link


@blp.route("/report-links/<uuid:link_id>")
class ReportLinkById(MethodView):
    @blp.response(204)
    def delete(self, link_id):
        """Revoke a report link at once."""
        services.revoke_report_link(current_user(), link_id)


@blp.route("/me/access-log")
class AccessLog(MethodView):
    @blp.arguments(RangeQuerySchema, location="query")
    @blp.response(200, AccessLogPageSchema)
    def get(self, args):
        """Who read my data, what kind, when and from where."""
        items, next_cursor = services.access_log(current_user(), args)
        return {"items": items, "next_cursor": next_cursor}
