"""Monitoring in "my data": the plan (the defaults with the person's overrides) and the prompts."""

import sqlalchemy as sa

from backend.data_parts import DataPart, execute
from backend.extensions import db
from backend.monitoring.models import Plan, Prompt
from backend.monitoring.plan import effective_plan


def export(user, now):
    prompts = sa.select(Prompt).where(Prompt.user_id == user.id).order_by(Prompt.created_at, Prompt.id)
    return {"plan": effective_plan(user), "prompts": db.session.scalars(prompts).all()}


def purge(user):
    # Pushes of the prompts name them by id only; push's part removes those.
    return {"prompts": execute(sa.delete(Prompt).where(Prompt.user_id == user.id)),
            "plans": execute(sa.delete(Plan).where(Plan.user_id == user.id))}


PART = DataPart(tables=("plans", "prompts"), sections={"plan": "plans", "prompts": "prompts"},
                export=export, purge=purge)
