"""Sharing in "my data": shares both ways, the invites and report links the person made, and who
read their data.

Deletion keeps two things that belong to other patients: where the person read someone else's
data through a share, that patient's access log keeps the entry, without the reference to the
account and with the name it had then marked " (account deleted)" (the log is the patient's
record of who saw their data); and an invite another patient made that the person accepted stays
that patient's, pointing at no share any more.
"""

import sqlalchemy as sa

from backend.accounts.models import User
from backend.data_parts import DataPart, execute
from backend.extensions import db
from backend.sharing.models import AccessLogEntry, ReportLink, Share, ShareInvite

DELETED_MARK = " (account deleted)"


def export(user, now):
    uid = user.id
    shares = sa.select(Share).where(sa.or_(Share.patient_id == uid, Share.viewer_id == uid)).order_by(Share.created_at)
    invites = sa.select(ShareInvite).where(ShareInvite.patient_id == uid).order_by(ShareInvite.created_at)
    links = sa.select(ReportLink).where(ReportLink.patient_id == uid).order_by(ReportLink.created_at)
    log = sa.select(AccessLogEntry).where(AccessLogEntry.patient_id == uid).order_by(AccessLogEntry.at,
                                                                                       AccessLogEntry.id)
    return {
        "shares": [_share(share, uid) for share in db.session.scalars(shares)],
        "invites": [_invite(invite, now) for invite in db.session.scalars(invites)],
        "report_links": db.session.scalars(links).all(),
        "access_log": db.session.scalars(log).all(),
    }


def _share(share, uid):
    """The other side by display name only, never by id."""
    mine = share.patient_id == uid
    other = db.session.get(User, share.viewer_id if mine else share.patient_id)
    return {"id": share.id, "as": "patient" if mine else "viewer", "other_person": other.display_name,
            "role": share.role, "scopes": share.scopes, "alerts": share.alerts, "created_at": share.created_at,
            "revoked_at": share.revoked_at, "revoked_by": share.revoked_by}


def _invite(invite, now):
    return {"id": invite.id, "role": invite.role, "scopes": invite.scopes, "alerts": invite.alerts,
            "state": invite.state(now), "expires_at": invite.expires_at, "created_at": invite.created_at,
            "accepted_at": invite.accepted_at, "revoked_at": invite.revoked_at}


def purge(user):
    uid = user.id
    shares = sa.select(Share.id).where(sa.or_(Share.patient_id == uid, Share.viewer_id == uid))
    return {
        "access_log (reads of others' data, kept)": execute(
            sa.update(AccessLogEntry).where(AccessLogEntry.viewer_id == uid, AccessLogEntry.patient_id != uid)
            .values(viewer_id=None, viewer_label=sa.func.substr(AccessLogEntry.viewer_label + DELETED_MARK, 1, 120))),
        "access_log": execute(sa.delete(AccessLogEntry).where(AccessLogEntry.patient_id == uid)),
        "share_invites (accepted by them, kept)": execute(
            sa.update(ShareInvite).where(ShareInvite.share_id.in_(shares)).values(share_id=None)),
        "share_invites": execute(sa.delete(ShareInvite).where(ShareInvite.patient_id == uid)),
        "shares": execute(sa.delete(Share).where(Share.id.in_(shares))),
        "report_links": execute(sa.delete(ReportLink).where(ReportLink.patient_id == uid)),
    }


PART = DataPart(
    tables=("shares", "share_invites", "report_links", "access_log"),
    sections={"shares": "shares", "invites": "share_invites", "report_links": "report_links",
              "access_log": "access_log"},
    kept={"access_log": "the person's reads of another patient's data: that patient's record of who saw it "
                        f"(the reference cleared, the name marked \"{DELETED_MARK.strip()}\")",
          "share_invites": "another patient's invites that the person accepted (no longer pointing at a share)"},
    export=export, purge=purge)
