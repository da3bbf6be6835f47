"""Check-ins: PEG-3 pain items, ADHD symptom items, mood, sleep and symptom lists."""

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.domain import DAILY_PAIN, PEG_ITEMS, SCREENS, peg_score, screen_score
from backend.extensions import db
from backend.records import ClientRecord
from backend.sqltypes import UTCDateTime

ADHD_ITEMS = ("focus", "hyperactivity", "impulsivity", "restlessness")
SCORE_ITEMS = (DAILY_PAIN,) + PEG_ITEMS + ADHD_ITEMS + (
    "mood", "sleep_quality", "phq2_interest", "phq2_mood", "gad2_nervous", "gad2_worry")


class CheckIn(ClientRecord, db.Model):
    __tablename__ = "checkins"
    __table_args__ = (
        sa.Index("ix_checkins_user_recorded", "user_id", "recorded_at", "id"),
        sa.Index("ix_checkins_user_sync", "user_id", "sync_seq"),
    )
    noun = "check-in"
    api_path = "/v1/checkins"
    sort_column_name = "recorded_at"
    scrub_on_delete = SCORE_ITEMS + ("sleep_hours", "side_effects", "withdrawal_symptoms", "withdrawal_severity",
                                     "note")

    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Pain today (right now), 0–10: the daily item the charts and the worsening rule read.
    pain_today: Mapped[int | None] = mapped_column(sa.SmallInteger)
    # PEG-3, each 0–10.
    pain: Mapped[int | None] = mapped_column(sa.SmallInteger)
    enjoyment_interference: Mapped[int | None] = mapped_column(sa.SmallInteger)
    activity_interference: Mapped[int | None] = mapped_column(sa.SmallInteger)
    # ADHD symptom frequency, 0 (never) – 4 (very often).
    focus: Mapped[int | None] = mapped_column(sa.SmallInteger)
    hyperactivity: Mapped[int | None] = mapped_column(sa.SmallInteger)
    impulsivity: Mapped[int | None] = mapped_column(sa.SmallInteger)
    restlessness: Mapped[int | None] = mapped_column(sa.SmallInteger)
    mood: Mapped[int | None] = mapped_column(sa.SmallInteger)
    sleep_hours: Mapped[float | None] = mapped_column(sa.Float)
    sleep_quality: Mapped[int | None] = mapped_column(sa.SmallInteger)
    # PHQ-2 and GAD-2 answers, each 0–3 (free of copyright restriction).
    phq2_interest: Mapped[int | None] = mapped_column(sa.SmallInteger)
    phq2_mood: Mapped[int | None] = mapped_column(sa.SmallInteger)
    gad2_nervous: Mapped[int | None] = mapped_column(sa.SmallInteger)
    gad2_worry: Mapped[int | None] = mapped_column(sa.SmallInteger)
    side_effects: Mapped[list] = mapped_column(sa.JSON, default=list)
    withdrawal_symptoms: Mapped[list] = mapped_column(sa.JSON, default=list)
    # How strong each withdrawal symptom was, 0–4, for the symptoms the person rated.
    withdrawal_severity: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    note: Mapped[str | None] = mapped_column(sa.Text)

    @property
    def peg_score(self):
        """PEG-3 score: the mean of its three items, only when all three were answered."""
        return peg_score(self.pain, self.enjoyment_interference, self.activity_interference)

    @property
    def phq2_score(self):
        """PHQ-2 total, 0–6, when both items were answered (3 or more: a positive screen)."""
        return screen_score(*(getattr(self, item) for item in SCREENS["phq2"]))

    @property
    def gad2_score(self):
        """GAD-2 total, 0–6, when both items were answered (3 or more: a positive screen)."""
        return screen_score(*(getattr(self, item) for item in SCREENS["gad2"]))
