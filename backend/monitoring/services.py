"""Prompts: raised once per situation (and again only after a cooldown), listed and acknowledged."""

import datetime as dt
import uuid

import sqlalchemy as sa

from backend import records
from backend.records import next_change
from backend.database import insert_once, owned
from backend.extensions import db
from backend.metrics import PROMPTS_RAISED
from backend.monitoring.models import Prompt, PushState
from backend.monitoring.rules import DRAWS_ON
from backend.sqltypes import utcnow


def raise_prompt(user, finding, plan, now):
    """Store a finding as a prompt unless its situation was already prompted (a daily digest's prompt
    is brought up to date instead), or the same rule and subject fired within the cooldown. Returns
    the new prompt or None. Safe to replay."""
    existing = db.session.scalar(sa.select(Prompt).where(
        Prompt.user_id == user.id, Prompt.dedupe_key == finding.dedupe_key))
    if existing is not None:
        if finding.digest and (existing.message, existing.evidence) != (finding.message, finding.evidence):
            # The day's digest: what it lists grows; its severity, push and alerts stay as raised.
            existing.message, existing.evidence = finding.message, finding.evidence
            db.session.flush()
        return None
    if finding.severity != "high" and finding.cooldown:
        cooldown = dt.timedelta(hours=plan["cooldown_hours"])
        recent = db.session.scalar(sa.select(Prompt.id).where(
            Prompt.user_id == user.id, Prompt.rule == finding.rule, Prompt.subject == finding.subject,
            Prompt.created_at > now - cooldown).limit(1))
        if recent is not None:
            return None
    row = {"id": uuid.uuid4(), "user_id": user.id, "rule": finding.rule, "subject": finding.subject,
           "severity": finding.severity, "dedupe_key": finding.dedupe_key, "message": finding.message,
           "evidence": finding.evidence, "created_at": now, "push_status": PushState.PENDING, "push_after": now,
           "alert_caregivers": finding.alert_caregivers,
           "sync_seq": next_change(user.id)}
    # Another process may have raised the same situation a moment ago: the unique key decides.
    prompt = insert_once(Prompt, row)
    if prompt is not None:
        PROMPTS_RAISED.labels(finding.rule).inc()  # rule names only: nothing about the person
    return prompt


def list_prompts(user, args):
    query = sa.select(Prompt).where(Prompt.user_id == user.id)
    return records.keyset_page(query, Prompt.created_at, Prompt.id, args)


def acknowledge_prompt(user, prompt_id, now=None):
    prompt = owned(Prompt, user, prompt_id)
    if prompt.acknowledged_at is None:
        prompt.acknowledged_at = now or utcnow()
        db.session.flush()
    return prompt


WITHHELD_SCOPE_WORDS = {"doses": "dose logs", "checkins": "check-ins"}


def shown_to(prompt, scopes):
    """A prompt as someone with these share scopes may read it: whole, or, when it draws on data they
    may not see (a prompts-only share reading a daily-limit prompt), its rule, severity and dates
    with the message and evidence withheld."""
    needs = DRAWS_ON.get(prompt.rule, tuple(WITHHELD_SCOPE_WORDS))
    missing = [scope for scope in needs if scope not in scopes]
    if not missing:
        return prompt
    about = " and ".join(WITHHELD_SCOPE_WORDS[scope] for scope in missing)
    return {"id": prompt.id, "rule": prompt.rule, "subject": None, "severity": prompt.severity,
            "message": f"The details of this prompt come from {about}, which this share does not include.",
            "evidence": {}, "created_at": prompt.created_at, "acknowledged_at": prompt.acknowledged_at}
