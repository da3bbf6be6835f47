"""Sharing use cases: invites and their codes, shares and scopes, report links, the access log.

Codes and link tokens are random, shown once, and stored only as SHA-256 hashes: a database leak
does not hand out access. Every read by someone other than the patient is written to the access
log in the same transaction as the read's commit.
"""

import datetime as dt
import hashlib
import hmac
import secrets

import sqlalchemy as sa
from flask import current_app

from backend import records
from backend.accounts.models import User
from backend.database import delete_older, owned
from backend.errors import Conflict, NotFound, Problem
from backend.extensions import db
from backend.sharing.models import AccessLogEntry, ReportLink, Share, ShareInvite
from backend.sqltypes import utcnow

# Crockford's base32: no I, L, O or U to misread; 10 characters carry 50 bits.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10
REPORT_TOKEN_BYTES = 24  # 192 bits
MAX_INVITE_HOURS = 7 * 24
MAX_LINK_DAYS = 90


class InvalidCode(Problem):
    status, title, slug = 404, "Not Found", "invalid-invite-code"


class OutOfScope(Problem):
    status, title, slug = 403, "Forbidden", "out-of-scope"


def hash_secret(secret):
    """HMAC-SHA-256 under the app's secret key: what the database keeps instead of the secret."""
    return hmac.new(current_app.config["SECRET_KEY"].encode(), secret.encode(), hashlib.sha256).hexdigest()


def normalise_code(text):
    """Codes are read aloud and typed: ignore case, spaces and dashes, and the usual look-alikes."""
    text = text.upper().replace("-", "").replace(" ", "")
    return text.translate(str.maketrans({"I": "1", "L": "1", "O": "0"}))


def new_code():
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def create_invite(patient, data, now=None):
    """A one-time code for a caregiver or clinician; returns (invite, code) — the code only now."""
    now = now or utcnow()
    code = new_code()
    invite = ShareInvite(patient_id=patient.id, code_hash=hash_secret(normalise_code(code)), role=data["role"],
                         scopes=data["scopes"], alerts=data["alerts"],
                         expires_at=now + dt.timedelta(hours=data["expires_in_hours"]), created_at=now)
    db.session.add(invite)
    db.session.flush()
    return invite, code


def list_invites(patient):
    return db.session.scalars(sa.select(ShareInvite).where(ShareInvite.patient_id == patient.id)
                              .order_by(ShareInvite.created_at.desc())).all()


def revoke_invite(patient, invite_id, now=None):
    invite = owned(ShareInvite, patient, invite_id, owner="patient_id")
    if invite.accepted_at is None and invite.revoked_at is None:
        invite.revoked_at = now or utcnow()
        db.session.flush()


def accept_invite(viewer, code, now=None):
    """Become linked to the patient who made the code; wrong, used, expired and revoked codes all
    fail the same way, so guessing learns nothing."""
    now = now or utcnow()
    invite = db.session.scalar(sa.select(ShareInvite).where(
        ShareInvite.code_hash == hash_secret(normalise_code(code))).with_for_update())
    if invite is None or invite.state(now) != "pending":
        raise InvalidCode("This code is not valid, was already used, or has expired.")
    if invite.patient_id == viewer.id:
        raise Conflict("This is your own invite: give it to the person who should see your data.")
    share = db.session.scalar(sa.select(Share).where(
        Share.patient_id == invite.patient_id, Share.viewer_id == viewer.id, Share.revoked_at.is_(None)))
    if share is None:
        share = Share(patient_id=invite.patient_id, viewer_id=viewer.id, created_at=now)
        db.session.add(share)
    share.role, share.scopes, share.alerts, share.updated_at = invite.role, invite.scopes, invite.alerts, now
    db.session.flush()
    invite.accepted_at, invite.share_id = now, share.id
    db.session.flush()
    return share


def list_shares(user, args):
    """Shares where I am the patient or the viewer (live ones unless asked otherwise)."""
    query = sa.select(Share).where(sa.or_(Share.patient_id == user.id, Share.viewer_id == user.id))
    if args.get("as") == "patient":
        query = query.where(Share.patient_id == user.id)
    elif args.get("as") == "viewer":
        query = query.where(Share.viewer_id == user.id)
    if not args.get("include_revoked"):
        query = query.where(Share.revoked_at.is_(None))
    return db.session.scalars(query.order_by(Share.created_at.desc())).all()


def _share_of(user, share_id):
    share = db.session.get(Share, share_id)
    if share is None or user.id not in (share.patient_id, share.viewer_id):
        raise NotFound("No share with this id.")
    return share


def update_share(patient, share_id, changes, now=None):
    """The patient changes scopes or alerts; it applies from the very next request."""
    share = owned(Share, patient, share_id, owner="patient_id")
    if share.revoked_at is not None:
        raise NotFound("No share with this id.")
    for name, value in changes.items():
        setattr(share, name, value)
    share.updated_at = now or utcnow()
    db.session.flush()
    return share


def revoke_share(user, share_id, now=None):
    """Either side ends the share, at once."""
    share = _share_of(user, share_id)
    if share.revoked_at is None:
        share.revoked_at = now or utcnow()
        share.revoked_by = "patient" if share.patient_id == user.id else "viewer"
        db.session.flush()


def viewer_share(viewer, patient_id, scope):
    """The live share that lets `viewer` read `scope` of the patient's data.

    No live share: 404, the same as for a patient who does not exist. Outside the scopes: 403.
    The patient reading their own data through these routes needs no share (returns None).
    """
    if viewer.id == patient_id:
        return None
    share = db.session.scalar(sa.select(Share).where(
        Share.viewer_id == viewer.id, Share.patient_id == patient_id, Share.revoked_at.is_(None)))
    if share is None:
        raise NotFound("No patient with this id is shared with you.")
    if scope not in share.scopes and scope != "summary":
        raise OutOfScope(f"The patient has not shared their {scope} with you.")
    return share


def log_access(patient_id, data_kind, client, *, viewer=None, link=None, now=None):
    """Append who read what kind of data, when and from where (`client`, an api.Client), never the
    data itself."""
    if viewer is not None and viewer.id == patient_id:
        return
    if viewer is not None:
        label = viewer.display_name or "A linked person"
    else:
        label = f"Report link{': ' + link.label if link.label else ''}"
    db.session.add(AccessLogEntry(
        patient_id=patient_id, viewer_id=viewer.id if viewer else None, report_link_id=link.id if link else None,
        viewer_label=label[:120], data_kind=data_kind, at=now or utcnow(),
        ip_address=client.address, user_agent=client.user_agent))
    db.session.flush()


def log_device_moved(previous_owner_id, device, client, now=None):
    """A phone the person had registered is now registered to another account: their access log says
    so (never which account), as their reminders stop reaching that phone."""
    db.session.add(AccessLogEntry(
        patient_id=previous_owner_id, viewer_id=None, viewer_label="Another account, on one of your phones",
        data_kind="device", at=now or utcnow(), ip_address=client.address if client else None,
        user_agent=client.user_agent if client else None))
    db.session.flush()


def access_log(patient, args):
    query = sa.select(AccessLogEntry).where(AccessLogEntry.patient_id == patient.id)
    return records.keyset_page(query, AccessLogEntry.at, AccessLogEntry.id, args)


def create_report_link(patient, data, now=None):
    """A read-only report link for a clinician; returns (link, token) — the token only now."""
    now = now or utcnow()
    token = secrets.token_urlsafe(REPORT_TOKEN_BYTES)
    link = ReportLink(patient_id=patient.id, token_hash=hash_secret(token), label=data.get("label"),
                      scopes=data["scopes"], range_start=data.get("since"), range_end=data.get("until"),
                      expires_at=now + dt.timedelta(days=data["expires_in_days"]), created_at=now)
    db.session.add(link)
    db.session.flush()
    return link, token


def list_report_links(patient):
    return db.session.scalars(sa.select(ReportLink).where(ReportLink.patient_id == patient.id)
                              .order_by(ReportLink.created_at.desc())).all()


def revoke_report_link(patient, link_id, now=None):
    link = owned(ReportLink, patient, link_id, owner="patient_id")
    if link.revoked_at is None:
        link.revoked_at = now or utcnow()
        db.session.flush()


def report_url(token):
    """The address of the report page behind a report-link token, on this server's public URL."""
    return f"{current_app.config['CARELOOP_PUBLIC_URL'].rstrip('/')}/r/{token}"


def report_link_for_token(token, now=None):
    """The usable link for a token, or None for unknown, revoked and expired alike."""
    now = now or utcnow()
    if not token or len(token) > 128:
        return None
    link = db.session.scalar(sa.select(ReportLink).where(ReportLink.token_hash == hash_secret(token)))
    return link if link is not None and link.usable(now) else None


def patient_of(share_or_id):
    return db.session.get(User, share_or_id)


def prune_access_log(now, keep, batch_size=5000):
    """Forget who read a person's data after `keep` (at least six years: see RETENTION_DAYS);
    returns how many entries went."""
    return delete_older(AccessLogEntry, AccessLogEntry.at, now - keep, batch_size)
