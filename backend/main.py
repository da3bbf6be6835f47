"""The `careloop` console command: the Flask CLI of create_app() (run, jobs, db, openapi, demo, pushes)."""

import click
from flask.cli import FlaskGroup

from backend import create_app


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False, add_version_option=False)
def main():
    """Careloop backend commands."""
