"""The small domain kernel: what several features need to mean the same thing by.

Local days in a person's zone, times of day, the substances, forms and units a dose names (with
the words people read for them), the PEG score, and when a check-in answers a reminder. Each is
written here once; rules, reports, exports and schedules call it. Adding a substance kind here
reaches validation, the plan, the rules, the report and the FHIR export.
"""

import dataclasses
import datetime as dt
import functools
import re
import zoneinfo

# ── local days ────────────────────────────────────────────────────────────────────────────────


@functools.lru_cache(maxsize=512)
def zone(name):
    """The IANA zone `name` (loaded once per process)."""
    return zoneinfo.ZoneInfo(name)


def local_date(instant, tz):
    """The local date an instant falls on in `tz`."""
    return instant.astimezone(tz).date()


def day_start(day, tz):
    """The UTC instant local day `day` starts at in `tz` (a DST day may be 23 or 25 hours long)."""
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.timezone.utc)


def day_bounds(tz, first_day, last_day=None):
    """UTC instants [start, end) of local days first_day..last_day (one day when last_day is None)."""
    last_day = first_day if last_day is None else last_day
    return day_start(first_day, tz), day_start(last_day + dt.timedelta(days=1), tz)


def local_days(since, until, tz):
    """Every local date the range [since, until) touches, in order (none for an empty range)."""
    if until <= since:
        return []
    first, last = local_date(since, tz), local_date(until - dt.timedelta(microseconds=1), tz)
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


# ── free text ─────────────────────────────────────────────────────────────────────────────────

# The longest note a check-in or a dose carries.
NOTE_MAX = 2000


# ── times of day ──────────────────────────────────────────────────────────────────────────────

# A 24-hour wall-clock time written HH:MM (07:30, never 7:30).
HHMM_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_HHMM = re.compile(HHMM_PATTERN)


def parse_hhmm(text):
    """`"07:30"` → (7, 30); ValueError for anything that is not HH:MM."""
    if not isinstance(text, str) or not _HHMM.fullmatch(text):
        raise ValueError(f"not an HH:MM time: {text!r}")
    return int(text[:2]), int(text[3:])


# ── substances, forms and units ───────────────────────────────────────────────────────────────


@dataclasses.dataclass(frozen=True)
class Label:
    """How a value is shown: `name` as a heading or table cell, `phrase` inside a sentence."""

    name: str
    phrase: str


SUBSTANCES = {
    "kratom": Label("Kratom", "kratom"),
    "adhd_stimulant": Label("ADHD stimulant", "an ADHD stimulant"),
    "adhd_non_stimulant": Label("ADHD non-stimulant", "a non-stimulant ADHD medicine"),
    "opioid": Label("Opioid", "an opioid"),
    "benzodiazepine": Label("Benzodiazepine", "a benzodiazepine"),
    "alcohol": Label("Alcohol", "alcohol"),
    "gabapentinoid": Label("Gabapentinoid", "a gabapentinoid (gabapentin, pregabalin)"),
    "z_drug": Label("Z-drug or other sleep medicine", "a sleep medicine such as zolpidem"),
    "muscle_relaxant": Label("Muscle relaxant", "a muscle relaxant"),
    "sedative": Label("Other sedative", "another sedative"),
    "nsaid": Label("NSAID", "an NSAID"),
    "other": Label("Other substance", "another substance"),
}
SUBSTANCE_KINDS = tuple(SUBSTANCES)
# What slows breathing alongside kratom, the combination in most kratom-involved overdose deaths the
# CDC studied (MMWR 68(14), 2019: opioids most often, then benzodiazepines and other sedatives).
SEDATING_KINDS = ("opioid", "benzodiazepine", "alcohol", "gabapentinoid", "z_drug", "muscle_relaxant", "sedative")
# Stopping these suddenly can cause seizures: their withdrawal is a same-day medical matter.
SEIZURE_RISK_WITHDRAWAL_KINDS = ("alcohol", "benzodiazepine")

# Risk differs by form: concentrated 7-hydroxymitragynine (7-OH) is far more potent than leaf.
FORMS = {
    "leaf_powder": Label("leaf powder", "leaf powder"),
    "capsule": Label("capsule", "capsules"),
    "tablet": Label("tablet", "tablets"),
    "extract": Label("extract", "an extract"),
    "concentrate_7oh": Label("7-OH concentrate", "a concentrated 7-OH product"),
    "liquid": Label("liquid", "a liquid"),
    "drink": Label("drink", "a drink"),
    "patch": Label("patch", "a patch"),
    "other": Label("other form", "another form"),
}
FORM_NAMES = tuple(FORMS)

UNITS = ("g", "mg", "mcg", "ml", "capsule", "tablet", "drink")
# Amounts are compared across units of one kind only: g, mg and mcg are all mass.
MASS_IN_MG = {"g": 1000.0, "mg": 1.0, "mcg": 0.001}


def words(name):
    """`upper_right_belly_pain` → `upper right belly pain`: the fallback label of any code."""
    return (name or "").replace("_", " ")


def substance_label(kind):
    """The heading label of a substance kind; never a KeyError for a kind added later."""
    label = SUBSTANCES.get(kind)
    return label.name if label else words(kind).capitalize()


def substance_phrase(kind):
    """A substance kind inside a sentence ("an opioid")."""
    label = SUBSTANCES.get(kind)
    return label.phrase if label else words(kind)


def form_label(form):
    label = FORMS.get(form)
    return label.name if label else words(form)


def convert(amount, unit, to_unit):
    """`amount` in `to_unit`, or None when the units measure different things (mg vs capsules)."""
    if unit == to_unit:
        return amount
    if unit in MASS_IN_MG and to_unit in MASS_IN_MG:
        return amount * MASS_IN_MG[unit] / MASS_IN_MG[to_unit]
    return None


def display_amount(amount, unit):
    return f"{amount:g} {unit}"


# ── the PEG score ─────────────────────────────────────────────────────────────────────────────

# PEG-3 (Krebs et al. 2009): average pain, interference with enjoyment of life and with general
# activity, each 0–10; the score is their mean, and only when all three were answered.
PEG_ITEMS = ("pain", "enjoyment_interference", "activity_interference")
# PEG asks about the past week; this daily item ("pain today", 0–10) feeds the daily charts and rules.
DAILY_PAIN = "pain_today"

# PHQ-2 (Kroenke et al. 2003) and GAD-2 (Kroenke et al. 2007): two items each, 0–3; a total of 3 or
# more is a positive screen, which asks for a fuller assessment by a clinician, not a diagnosis.
SCREENS = {"phq2": ("phq2_interest", "phq2_mood"), "gad2": ("gad2_nervous", "gad2_worry")}
POSITIVE_SCREEN = 3


def screen_score(*items):
    """A PHQ-2 or GAD-2 total (0–6), only when both items were answered."""
    return None if any(item is None for item in items) else sum(items)


def positive_screen(score):
    return score is not None and score >= POSITIVE_SCREEN


def peg_score(pain, enjoyment_interference, activity_interference, places=2):
    items = (pain, enjoyment_interference, activity_interference)
    if any(item is None for item in items):
        return None
    mean = sum(items) / 3
    return round(mean, places) if places is not None else mean


# ── a check-in answers a reminder ─────────────────────────────────────────────────────────────

# A check-in done shortly before a check-in reminder answers it; a late one still does for a day.
EARLY_ANSWER = dt.timedelta(minutes=30)
ANSWERABLE_FOR = dt.timedelta(hours=24)


def answered_window(recorded_at):
    """The due instants [first, last] of the check-in reminders a check-in recorded then answers."""
    return recorded_at - ANSWERABLE_FOR, recorded_at + EARLY_ANSWER


def checkin_answers(recorded_at, due_at):
    """Whether a check-in recorded at `recorded_at` answers a check-in reminder due at `due_at`."""
    first, last = answered_window(recorded_at)
    return first <= due_at <= last
