"""The commands of `careloop` (jobs, pushes; run and demo come from backend.demo), added to the
app's CLI by create_app; backend.main is the console entry point."""

import json
import sys

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext


@click.command("jobs")
@click.option("--once", is_flag=True, help="Run every job once and exit (cron-style, tests).")
@click.option("--check", is_flag=True, help="Exit 0 if this machine's jobs process ran a job in the last minute "
                                           "(a container health check), else 1.")
@with_appcontext
def jobs_command(once, check):
    """The jobs process: reminders, follow-ups, device pruning (run as many as you like)."""
    import jobs

    app = current_app._get_current_object()
    if check:
        sys.exit(0 if jobs.alive(app) else 1)
    if once:
        with jobs.stopping_on_signals() as stopping_since:
            for name, handled in jobs.run_once(app).items():
                click.echo(f"{name}: {'failed' if handled is None else handled}")
            code = jobs.finish(stopping_since)
        sys.exit(code)
    sys.exit(jobs.run_blocking(app))


@click.command("pushes")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
def pushes_command(limit, as_json):
    """Pushes recorded by the local transport, newest first."""
    from backend.extensions import db
    from backend.push.models import LocalPush

    pushes = db.session.scalars(sa.select(LocalPush).order_by(LocalPush.id.desc()).limit(limit)).all()
    if not pushes:
        click.echo("No pushes recorded yet.")
    for push in pushes:
        if as_json:
            click.echo(json.dumps({"at": push.created_at.isoformat(), "token": push.token, "title": push.title,
                                   "body": push.body, "data": push.data, "collapse_key": push.collapse_key,
                                   "ttl_seconds": push.ttl_seconds}))
        else:
            click.echo(f"{push.created_at:%Y-%m-%d %H:%M:%S}Z  …{push.token[-8:]}  {push.title}: {push.body}  "
                       f"{push.data}")


def init_app(app):
    """Commands live on app.cli, so `careloop …` and app.test_cli_runner() see the same ones."""
    from backend.demo import demo_command, run_command

    for command in (run_command, jobs_command, demo_command, pushes_command):
        app.cli.add_command(command)
