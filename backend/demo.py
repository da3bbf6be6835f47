"""Demo data and the one-command embedded run."""

import datetime as dt
import os
import random
import secrets
import uuid
import zoneinfo

import click
from flask import current_app
from flask.cli import with_appcontext

from backend.accounts.services import update_profile, user_for_firebase_uid
from backend.push.services import register_device
from backend.checkins.services import record_checkin
from backend.devtokens import emulator_id_token
from backend.doses.services import log_dose
from backend.extensions import db
from backend.reminders.models import ReminderSchedule
from backend.reminders.services import create_reminder, update_reminder
from backend.sharing.models import SCOPES, ReportLink
from backend.sharing.services import REPORT_TOKEN_BYTES, hash_secret, report_url
from backend.sqltypes import utcnow

DEMO_UID = "demo-patient"
DEMO_NAMESPACE = uuid.UUID("6f1c1d8e-3b2a-4c55-9a57-0d6c3f7e2b11")
DEMO_DEVICE_TOKEN = "demo-device-local-transport"
DEMO_LINK_DAYS = 30


def get_reminder_or_none(user, reminder_id):
    schedule = db.session.get(ReminderSchedule, reminder_id)
    return schedule if schedule is not None and schedule.deleted_at is None else None


def seed_demo_data(days=30):
    """A demo patient with a month of check-ins and doses; safe to run again (fixed ids)."""
    user, _ = user_for_firebase_uid(DEMO_UID, display_name="Demo Patient")
    update_profile(user, {"timezone": "Europe/London", "quiet_hours": {"start": dt.time(22), "end": dt.time(7)}})
    tz = zoneinfo.ZoneInfo(user.timezone)
    rng = random.Random(7)
    today = utcnow().astimezone(tz).date()
    for back in range(days, 0, -1):
        day = today - dt.timedelta(days=back)
        morning = dt.datetime.combine(day, dt.time(8, 30), tz)
        record_checkin(user, {
            "id": uuid.uuid5(DEMO_NAMESPACE, f"checkin-{day}"),
            "recorded_at": morning.astimezone(dt.timezone.utc),
            "pain": rng.randint(3, 7), "enjoyment_interference": rng.randint(2, 7),
            "activity_interference": rng.randint(2, 7), "focus": rng.randint(1, 4),
            "hyperactivity": rng.randint(0, 3), "impulsivity": rng.randint(0, 3),
            "restlessness": rng.randint(0, 4), "mood": rng.randint(3, 8),
            "sleep_hours": round(rng.uniform(5, 8.5), 1), "sleep_quality": rng.randint(1, 4),
            "side_effects": rng.sample(["constipation", "drowsiness", "dry_mouth"], rng.randint(0, 2)),
            "withdrawal_symptoms": [],
        })
        for slot, hour in enumerate((9, 15)):
            log_dose(user, {
                "id": uuid.uuid5(DEMO_NAMESPACE, f"kratom-{day}-{slot}"),
                "taken_at": dt.datetime.combine(day, dt.time(hour), tz).astimezone(dt.timezone.utc),
                "substance_kind": "kratom", "form": "leaf_powder", "product": "Green Malay",
                "amount": rng.choice([2.0, 2.5, 3.0]), "unit": "g",
            })
        log_dose(user, {
            "id": uuid.uuid5(DEMO_NAMESPACE, f"stimulant-{day}"),
            "taken_at": dt.datetime.combine(day, dt.time(7, 45), tz).astimezone(dt.timezone.utc),
            "substance_kind": "adhd_stimulant", "form": "tablet", "product": "methylphenidate",
            "amount": 10, "unit": "mg",
        })
    register_device(user, DEMO_DEVICE_TOKEN, "android")
    db.session.flush()
    return user


def schedule_demo_reminder(user):
    """A check-in reminder due at the next whole minute but one, so a push shows within a minute."""
    tz = zoneinfo.ZoneInfo(user.timezone)
    due = (utcnow().astimezone(tz) + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    reminder_id = uuid.uuid5(DEMO_NAMESPACE, "demo-reminder")
    times = [due.strftime("%H:%M"), "20:00"]
    if user.quiet_until(due) is not None:
        # The demo patient sleeps 22:00–07:00, but a demo started at night must still show its push
        # within a minute: their quiet hours move to end an hour before it.
        update_profile(user, {"quiet_hours": {"start": (due - dt.timedelta(hours=10)).time(),
                                              "end": (due - dt.timedelta(hours=1)).time()}})
    if get_reminder_or_none(user, reminder_id) is None:
        create_reminder(user, {"id": reminder_id, "kind": "checkin", "times": times,
                               "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "timezone": None,
                               "active": True, "label": "Demo check-in", "follow_up_minutes": 30})
    else:
        update_reminder(user, reminder_id, {"times": times, "active": True})
    return due


def renew_demo_report_link(user, now=None):
    """The demo patient's clinician report link: always the same row, with a new token at each
    start (only a token's hash is stored, so an earlier one can never be shown again)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(REPORT_TOKEN_BYTES)
    link_id = uuid.uuid5(DEMO_NAMESPACE, "demo-report-link")
    link = db.session.get(ReportLink, link_id)
    if link is None:
        link = ReportLink(id=link_id, patient_id=user.id, created_at=now)
        db.session.add(link)
    link.label, link.scopes, link.range_start, link.range_end = "Demo clinician", list(SCOPES), None, None
    link.token_hash, link.revoked_at = hash_secret(token), None
    link.expires_at = now + dt.timedelta(days=DEMO_LINK_DAYS)
    db.session.flush()
    return token


def demo_token():
    return emulator_id_token(DEMO_UID, current_app.config["FIREBASE_PROJECT_ID"], name="Demo Patient")


def print_demo_banner(base_url, report_token):
    token = demo_token()
    click.echo("\nDemo patient ready. Bearer token (Firebase Auth emulator, development only):\n")
    click.echo(f"  {token}\n")
    click.echo("Try:\n")
    click.echo(f"  curl -s -H 'Authorization: Bearer {token}' {base_url}/v1/checkins?limit=3\n")
    click.echo(f"API docs: {base_url}/docs\n")
    click.echo(f"The demo patient's clinician report (a report link, valid {DEMO_LINK_DAYS} days):\n")
    click.echo(f"  {report_url(report_token)}\n")


@click.command("demo")
@with_appcontext
def demo_command():
    """Create the demo patient and a month of data; print a token."""
    user = seed_demo_data()
    report_token = renew_demo_report_link(user)
    db.session.commit()
    print_demo_banner("http://127.0.0.1:5000", report_token)


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo/--no-demo", default=True, show_default=True, help="Seed and print the demo patient")
@with_appcontext
def run_command(host, port, demo):
    """Embedded default: migrate, seed demo data, serve the API and run the jobs in-process."""
    from flask_migrate import upgrade
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()
    if app.config["CARELOOP_ENV"] == "production":
        raise click.UsageError("`careloop run` is the embedded default; in production run gunicorn and `careloop jobs`.")
    upgrade()
    # Listening on every interface: this machine is still reachable by its loopback address.
    base_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    if "CARELOOP_PUBLIC_URL" not in os.environ:
        app.config["CARELOOP_PUBLIC_URL"] = base_url  # report links point at this server
    if demo:
        user = seed_demo_data()
        due = schedule_demo_reminder(user)
        report_token = renew_demo_report_link(user)
        db.session.commit()
        print_demo_banner(base_url, report_token)
        click.echo(f"A demo check-in reminder is due at {due:%H:%M} ({user.timezone}); watch the log, "
                   "or run `careloop pushes` in another terminal.\n")
    db.session.remove()
    import jobs
    scheduler = jobs.start_background(app)
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        scheduler.shutdown(wait=False)
