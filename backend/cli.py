"""The `careloop` command: a Flask CLI group (run, db, openapi, demo, …)."""

import click
from flask.cli import FlaskGroup

from backend import create_app


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_default_commands=False,
             add_version_option=False)
def main():
    """Careloop backend commands."""


def _register():
    from backend.demo import demo_command, run_command
    main.add_command(run_command)
    main.add_command(demo_command)


_register()
