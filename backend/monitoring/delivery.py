"""Pushing prompts: to the person at once when urgent (high severity seen as it happened, even in
quiet hours), otherwise when quiet hours end; and a discreet alert to caregivers who asked for alerts."""

import dataclasses
import datetime as dt

import sqlalchemy as sa

from backend.accounts.models import User
from backend.extensions import db
from backend.monitoring.models import Prompt, PushState
from backend.push import pipeline
from backend.push.base import PushMessage
from backend.push.models import Purpose
from backend.push.services import active_devices_by_user
from backend.sharing.models import Share

PUSH_LIFETIME = dt.timedelta(hours=6)
RULE_TITLES = {
    "daily_limit": "Daily limit passed", "min_interval": "Doses close together", "escalation": "Use rising",
    "concentrated_7oh": "Concentrated 7-OH logged", "combination": "Risky combination logged",
    "form_check": "Please confirm a dose's form", "worsening": "Symptoms worse than usual",
    "withdrawal": "Withdrawal symptoms", "liver": "Possible liver warning signs", "emergency": "Emergency sign noted",
    "missed_checkins": "No recent check-in", "missed_dose": "Dose reminder not confirmed",
}
# Caregivers are alerted about these, when the patient turned alerts on for them.
ALERT_RULES = ("missed_checkins", "missed_dose")


def caregiver_text(prompt, patient):
    """Discreet either way: urgent ("Please check on … now") or routine; the person's name only when
    they chose to have it said."""
    name = patient.display_name if patient.name_in_caregiver_alerts and patient.display_name else None
    if prompt.urgent:
        return f"Please check on {name} now" if name else "Please check on someone you support now"
    return f"An update about {name or 'someone you support'} needs your attention"


def prompt_message(prompt, purpose, patient, token):
    """Discreet unless the person chose detailed texts; a caregiver alert never names a rule."""
    data = {"type": "prompt" if purpose == Purpose.PROMPT else "alert", "prompt_id": str(prompt.id)}
    priority = "high" if prompt.urgent else "normal"
    if purpose == Purpose.ALERT:
        data["patient_id"] = str(patient.id)
        # A routine alert must not replace an urgent one still on the caregiver's screen.
        collapse_key = f"alert-{patient.id}-urgent" if prompt.urgent else f"alert-{patient.id}"
        return PushMessage(token=token, title="Careloop", body=caregiver_text(prompt, patient), data=data,
                           collapse_key=collapse_key, priority=priority)
    body = "An important update needs your attention" if prompt.urgent else "You have a new update"
    # The collapse key travels to FCM and APNs too: discreet pushes group by urgency, not by rule.
    collapse_key = "prompt-high" if prompt.urgent else "prompt-normal"
    if patient.notification_privacy == "detailed":
        body = RULE_TITLES.get(prompt.rule, body)
        collapse_key = f"prompt-{prompt.rule}"
    return PushMessage(token=token, title="Careloop", body=body, data=data, collapse_key=collapse_key,
                       priority=priority)


def caregiver_alert_due(prompt):
    return prompt.alert_caregivers and (prompt.urgent or prompt.rule in ALERT_RULES)


@dataclasses.dataclass(frozen=True)
class PromptSubject:
    prompt: Prompt
    patient: User


class PromptPushes:
    """The message builder of prompt pushes (Purpose.PROMPT to the person, Purpose.ALERT to caregivers)."""

    def message(self, subject, delivery, device):
        return prompt_message(subject.prompt, delivery.purpose, subject.patient, device.token)

    def reload(self, deliveries, devices):
        """Shares are read again before a retry: a caregiver whose share was revoked or muted after
        the first attempt gets nothing more."""
        prompts = {p.id: p for p in db.session.scalars(sa.select(Prompt).where(
            Prompt.id.in_({d.subject_id for d in deliveries})))}
        patients = {u.id: u for u in db.session.scalars(sa.select(User).where(
            User.id.in_({p.user_id for p in prompts.values()})))}
        alerting = {(patient_id, viewer_id) for patient_id, viewer_id in db.session.execute(
            sa.select(Share.patient_id, Share.viewer_id).where(
                Share.patient_id.in_(patients), Share.alerts, Share.revoked_at.is_(None)))}
        wanted = {}
        for delivery in deliveries:
            prompt = prompts.get(delivery.subject_id)
            if prompt is None:
                continue
            if delivery.purpose == Purpose.ALERT and (prompt.user_id, devices[delivery.device_id].user_id) not in alerting:
                continue
            wanted[delivery.id] = PromptSubject(prompt, patients[prompt.user_id])
        return wanted


def send_prompt_pushes(now, batch_size=200):
    """Push pending prompts; returns how many prompts it handled."""
    prompts = db.session.scalars(
        sa.select(Prompt).where(Prompt.push_status == PushState.PENDING, Prompt.push_after <= now)
        .order_by(Prompt.push_after).limit(batch_size).with_for_update(skip_locked=True)).all()
    if not prompts:
        return 0
    patient_ids = {p.user_id for p in prompts}
    patients = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(patient_ids)))}
    # Who gets caregiver alerts is read now, so a share revoked a moment ago gets nothing.
    alerted = {}
    for patient_id, viewer_id in db.session.execute(sa.select(Share.patient_id, Share.viewer_id).where(
            Share.patient_id.in_(patient_ids), Share.alerts, Share.revoked_at.is_(None))):
        alerted.setdefault(patient_id, []).append(viewer_id)
    devices = active_devices_by_user(patient_ids | {v for viewers in alerted.values() for v in viewers})
    pushes = []
    for prompt in prompts:
        patient = patients[prompt.user_id]
        quiet_until = patient.quiet_until(now)
        if not prompt.urgent and quiet_until is not None:
            prompt.push_after = quiet_until
            continue
        subject = PromptSubject(prompt, patient)
        targets = [(device, Purpose.PROMPT) for device in devices.get(patient.id, ())]
        if caregiver_alert_due(prompt):
            targets += [(device, Purpose.ALERT) for viewer in alerted.get(patient.id, ())
                        for device in devices.get(viewer, ())]
        pushes += [pipeline.Push(purpose, prompt.id, subject, patient.id, device, PUSH_LIFETIME)
                   for device, purpose in targets]
        prompt.push_status = PushState.SENT
    db.session.flush()
    pipeline.deliver(pushes, now)
    return len(prompts)

