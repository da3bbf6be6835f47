"""The monitoring rules: each a small function from what just happened to what it observed.

A rule returns Findings; it never recommends, reduces or increases a dose. Messages say what was seen
in the person's own data and point to their clinician or pharmacist, and to emergency care for
emergency signs. Every rule reads only a bounded window of recent data, so its cost does not grow
with history.

Sources of what the messages say (each also noted where it is said):
- CDC MMWR 68(14), 2019 (Olsen et al., "Notes from the Field: Unintentional Drug Overdose Deaths with
  Kratom Detected — 27 States, July 2016–December 2017"): most kratom-involved overdose deaths also
  involved other substances, most often opioids (fentanyl), then benzodiazepines and other sedatives.
- US FDA, 29 July 2025: recommended scheduling 7-hydroxymitragynine (7-OH) under the Controlled
  Substances Act; 7-OH acts far more strongly at the opioid receptor than mitragynine.
- NIH LiverTox, "Kratom": liver injury 1–8 weeks after starting, with dark urine, jaundice, itching,
  abdominal pain, nausea, fatigue or fever.
- FDA and SAMHSA on naloxone: it reverses an opioid overdose and is sold without a prescription;
  pharmacists can advise on it.
- SAMHSA: 988, the Suicide & Crisis Lifeline (call or text), for mental health and substance use
  crises in the US.
"""

import dataclasses
import datetime as dt
import functools
import hashlib
import importlib.resources
import re
import statistics

import sqlalchemy as sa

from backend.checkins.models import ADHD_ITEMS, CheckIn
from backend.checkins.vocabulary import EMERGENCY_SIGNS, LIVER_WARNING_SIGNS, SPECIFIC_WITHDRAWAL_SIGNS
from backend.doses.models import Dose
from backend.domain import (
    DAILY_PAIN, MASS_IN_MG, SEDATING_KINDS, SEIZURE_RISK_WITHDRAWAL_KINDS, convert, day_bounds, display_amount,
    form_label, local_date, substance_phrase, words, zone,
)
from backend.extensions import db
from backend.monitoring.models import Prompt
from backend.monitoring.plan import daily_limits

CLINICIAN = "Consider talking this over with your clinician or pharmacist."
# FDA / SAMHSA: naloxone reverses an opioid overdose and is sold without a prescription.
NALOXONE = "Ask a pharmacist about naloxone, which can reverse an opioid overdose."
SEVEN_OH = "concentrate_7oh"
STIMULANT = "adhd_stimulant"
# A record is "late" when what it records happened this long before the rules see it: it is noted
# for the record and the clinician, but no longer sounded (no urgent push, no caregiver alert).
# Six hours: past the combination window's default and the lifetime of a push, an alarm to "act
# now" no longer matches what the person is living.
LATE_AFTER = dt.timedelta(hours=6)
# A situation sounded (an urgent prompt) in the week before is known: it comes back as a warning.
KNOWN_FOR = dt.timedelta(days=7)


@dataclasses.dataclass(frozen=True)
class Finding:
    rule: str
    subject: str
    severity: str          # info | warning | high
    dedupe_key: str        # one prompt per situation
    message: str
    evidence: dict
    # High and not late: pushed at once, through quiet hours, and caregivers with alerts are told.
    # Missed reminders set it at warning level: the person asked for those alerts.
    alert_caregivers: bool = False
    # Whether the plan's cooldown holds this finding back when its rule and subject fired lately;
    # findings already keyed once per day or per reminder are not held back.
    cooldown: bool = True
    # A daily digest: when its day's prompt exists, the prompt is brought up to date with what the
    # finding now says (the day's pairs or doses), without a new push.
    digest: bool = False


# ── where the person is: the emergency and crisis numbers ───────────────────────────────────────

@functools.cache
def _zone_countries():
    """IANA zone → ISO country code, from the tz database's zone.tab (shipped with tzdata)."""
    text = importlib.resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    rows = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return {row[2]: row[0] for row in rows if len(row) >= 3}


def country_of(timezone):
    """The country a zone belongs to, when the zone says it (the time zone is all we know)."""
    if timezone.startswith("US/"):
        return "US"
    return _zone_countries().get(timezone)


@dataclasses.dataclass
class Context:
    user: object
    plan: dict
    now: dt.datetime

    @property
    def tz(self):
        return zone(self.user.timezone)

    def local_date(self, instant):
        return local_date(instant, self.tz)

    def day_bounds(self, day):
        return day_bounds(self.tz, day)

    def doses(self, since, until, kinds=None):
        query = sa.select(Dose).where(Dose.user_id == self.user.id, Dose.deleted_at.is_(None),
                                      Dose.taken_at >= since, Dose.taken_at < until)
        if kinds:
            query = query.where(Dose.substance_kind.in_(kinds))
        return db.session.scalars(query.order_by(Dose.taken_at, Dose.id)).all()

    def checkins(self, since, until):
        return db.session.scalars(sa.select(CheckIn).where(
            CheckIn.user_id == self.user.id, CheckIn.deleted_at.is_(None),
            CheckIn.recorded_at >= since, CheckIn.recorded_at < until).order_by(CheckIn.recorded_at)).all()

    def last_checkins(self, until, count):
        """The `count` check-ins recorded up to `until` (inclusive), oldest first."""
        return db.session.scalars(sa.select(CheckIn).where(
            CheckIn.user_id == self.user.id, CheckIn.deleted_at.is_(None), CheckIn.recorded_at <= until)
            .order_by(CheckIn.recorded_at.desc()).limit(count)).all()[::-1]

    def sounded(self, rule, subject, besides_key):
        """Whether this rule sounded an urgent prompt about this subject in the last week (other than
        `besides_key`): a prompt about something logged late was never sounded, so it makes nothing known."""
        return db.session.scalar(sa.select(Prompt.id).where(
            Prompt.user_id == self.user.id, Prompt.rule == rule, Prompt.subject == subject, Prompt.urgent,
            Prompt.dedupe_key != besides_key, Prompt.created_at > self.now - KNOWN_FOR).limit(1)) is not None

    def local_time(self, instant):
        return instant.astimezone(self.tz).strftime("%a %d %b %H:%M")

    def late(self, instant):
        """Whether what happened at `instant` is too long ago to sound as an alarm now."""
        return self.now - instant > LATE_AFTER

    @property
    def in_us(self):
        return country_of(self.user.timezone) == "US"

    @property
    def emergency_services(self):
        return "emergency services (911)" if self.in_us else "emergency services"

    @property
    def crisis_line(self):
        # SAMHSA: 988 answers calls and texts for mental health and substance use crises in the US.
        if self.in_us:
            return "If you are in crisis, call or text 988 (the Suicide & Crisis Lifeline), at any hour."
        return "If you are in crisis, call your local emergency number."


def late_evidence(ctx, evidence, instant):
    """The evidence, saying how many hours after the fact the rules saw it when that was late."""
    if not ctx.late(instant):
        return evidence
    return {**evidence, "seen_hours_later": round((ctx.now - instant).total_seconds() / 3600)}


def drowsy_warning(ctx, instant):
    """What to do about very slow breathing: now, or if it happens again when the record is late."""
    signs = "very drowsy, hard to wake or breathing slowly"
    if ctx.late(instant):
        return f"If it happens again and you or someone with you is {signs}, call {ctx.emergency_services}."
    return f"If you or someone with you is {signs}, call {ctx.emergency_services} now."


def substance_settings(ctx, kind):
    return (ctx.plan.get("substances") or {}).get(kind) or {}


def opioid_type(dose):
    """Kratom, or a concentrated 7-OH product whatever substance kind it was logged under: both act
    at the opioid receptor."""
    return dose.substance_kind == "kratom" or dose.form == SEVEN_OH


def what_was_taken(dose):
    """Kratom or a 7-OH product, inside a sentence."""
    return "a concentrated 7-OH product" if dose.form == SEVEN_OH else substance_phrase(dose.substance_kind)


def measure(unit):
    """What an amount measures: mass (g, mg and mcg compare with each other) or a count unit itself."""
    return "g" if unit in MASS_IN_MG else unit


def form_words(form):
    return form_label(form) if form else "no form given"


# 1 ─ daily total above the personal limit ------------------------------------------------------

def daily_limit(ctx, dose):
    """The local day's total of one form of the dose's substance is above a daily limit in the
    person's plan that covers that form. Forms are never added together or converted into one
    another; count units (capsules, tablets, drinks, ml) are compared with themselves. A 7-OH
    product is 7-OH whatever kind it was logged under: kratom's limits for it hold too, and the
    day's 7-OH doses of every kind make its total."""
    # The substance the day's total is of: 7-OH is kratom's, whatever kind it was logged under.
    kind = "kratom" if dose.form == SEVEN_OH else dose.substance_kind
    kinds = list(dict.fromkeys((dose.substance_kind, kind)))
    limits = [limit for listed in kinds for limit in daily_limits(ctx.plan, listed)
              if (not limit.get("forms") or dose.form in limit["forms"])
              and measure(limit["unit"]) == measure(dose.unit)]
    if not limits:
        return []
    day = ctx.local_date(dose.taken_at)
    same_form = [other for other in ctx.doses(*ctx.day_bounds(day), kinds=None if dose.form == SEVEN_OH else kinds)
                 if other.form == dose.form]
    # The first limit passed is the finding; a second covering the same form would say nothing more.
    for limit in limits:
        unit = limit["unit"]
        # Rounded, so that 100 mg + 200 mg is the 0.3 g it means, not 0.30000000000000004 g.
        total = round(sum(convert(other.amount, other.unit, unit) for other in same_form
                          if measure(other.unit) == measure(unit)), 9)
        if total > limit["amount"]:
            described = ("concentrated 7-OH products" if dose.form == SEVEN_OH
                         else f"{substance_phrase(kind)} ({form_words(dose.form)})")
            return [Finding(
                "daily_limit", kind, "warning", f"daily_limit:{kind}:{dose.form}:{measure(unit)}:{day.isoformat()}",
                f"What you logged of {described} on {day:%a %d %b} adds up to "
                f"{display_amount(round(total, 3), unit)}, above the daily limit of "
                f"{display_amount(limit['amount'], unit)} in your plan. {CLINICIAN}",
                {"date": day.isoformat(), "form": dose.form, "total": round(total, 6), "unit": unit,
                 "limit": limit["amount"]})]
    return []


# 2 ─ doses closer together than the personal minimum interval ----------------------------------

def min_interval(ctx, dose):
    """Another dose of the same substance within the person's minimum interval of this one."""
    minutes = substance_settings(ctx, dose.substance_kind).get("min_interval_minutes")
    if not minutes:
        return []
    window = dt.timedelta(minutes=minutes)
    close = [other for other in ctx.doses(dose.taken_at - window + dt.timedelta(microseconds=1),
                                          dose.taken_at + window, kinds=[dose.substance_kind])
             if other.id != dose.id]
    if not close:
        return []
    nearest = min(close, key=lambda other: abs(other.taken_at - dose.taken_at))
    first, second = sorted((nearest, dose), key=lambda d: (d.taken_at, str(d.id)))
    gap = int((second.taken_at - first.taken_at).total_seconds() // 60)
    name = substance_phrase(dose.substance_kind)
    return [Finding(
        "min_interval", dose.substance_kind, "warning", f"min_interval:{first.id}:{second.id}",
        f"You logged {name} at {ctx.local_time(first.taken_at)} and again {gap} minutes later, sooner than the "
        f"{minutes} minutes in your plan. {CLINICIAN}",
        {"dose_ids": [str(first.id), str(second.id)], "minutes_apart": gap, "min_interval_minutes": minutes})]


# 3 ─ escalating kratom use -----------------------------------------------------------------------

RECENT_DAYS, PRIOR_DAYS = 7, 21
# Enough data: most days of each window logged, so that a few days say nothing about a change.
MIN_RECENT_DAYS, MIN_PRIOR_DAYS = 4, 12


def escalation(ctx, dose):
    """Per form and measure of kratom or 7-OH: the mean amount per logged day of the last 7 days is
    at least the plan's percentage above that of the 21 days before. A day with nothing logged is
    not counted as a day of no use, so gaps in logging read as no change."""
    if not opioid_type(dose):
        return []
    today = ctx.local_date(ctx.now)
    recent_first = today - dt.timedelta(days=RECENT_DAYS - 1)
    prior_first = recent_first - dt.timedelta(days=PRIOR_DAYS)
    since, _ = ctx.day_bounds(prior_first)
    _, until = ctx.day_bounds(today)
    unit = dose.unit  # shown in the unit of the dose that was logged; compared across its measure
    per_day = {}
    for other in ctx.doses(since, until):
        if opioid_type(other) and other.form == dose.form and measure(other.unit) == measure(unit):
            day = ctx.local_date(other.taken_at)
            per_day[day] = per_day.get(day, 0.0) + convert(other.amount, other.unit, unit)
    recent = [total for day, total in per_day.items() if day >= recent_first]
    prior = [total for day, total in per_day.items() if day < recent_first]
    if len(recent) < MIN_RECENT_DAYS or len(prior) < MIN_PRIOR_DAYS:
        return []
    recent_mean, prior_mean = statistics.fmean(recent), statistics.fmean(prior)
    percent = ctx.plan["escalation_percent"]
    if round(recent_mean, 9) < round(prior_mean * (1 + percent / 100), 9):
        return []
    rise = round((recent_mean / prior_mean - 1) * 100)
    what = what_was_taken(dose) if dose.form == SEVEN_OH else f"{what_was_taken(dose)} ({form_words(dose.form)})"
    return [Finding(
        "escalation", "kratom", "warning", f"escalation:{dose.form}:{measure(unit)}:{today.isoformat()}",
        f"You logged {what} on {len(recent)} of the last 7 days, {display_amount(round(recent_mean, 2), unit)} a "
        f"day on average: {rise} % more than the {display_amount(round(prior_mean, 2), unit)} a day on the "
        f"{len(prior)} days you logged it in the 21 days before. Rising use can come with dependence and "
        f"withdrawal. {CLINICIAN}",
        {"form": dose.form, "unit": unit, "recent_mean": round(recent_mean, 3), "prior_mean": round(prior_mean, 3),
         "recent_days": len(recent), "prior_days": len(prior), "percent_rise": rise})]


# 4 ─ concentrated 7-OH ---------------------------------------------------------------------------

def concentrated_7oh(ctx, dose):
    """Any concentrated 7-OH product, whatever substance kind it was logged under: one prompt per
    local day listing the day's 7-OH doses, high unless one was sounded in the week before."""
    if dose.form != SEVEN_OH:
        return []
    day = ctx.local_date(dose.taken_at)
    key = f"concentrated_7oh:{day.isoformat()}"
    known = ctx.sounded("concentrated_7oh", "kratom", key)
    late = ctx.late(dose.taken_at)
    doses = [d for d in ctx.doses(*ctx.day_bounds(day)) if d.form == SEVEN_OH]
    if len(doses) == 1:
        seen = f"You logged a concentrated 7-hydroxymitragynine (7-OH) product at {ctx.local_time(dose.taken_at)}"
    else:
        times = ", ".join(d.taken_at.astimezone(ctx.tz).strftime("%H:%M") for d in doses)
        seen = (f"You logged a concentrated 7-hydroxymitragynine (7-OH) product {len(doses)} times on "
                f"{day:%a %d %b} ({times})")
    seen += ", again as in the past week." if known else "."
    # FDA, 29 July 2025: recommended scheduling 7-OH; it acts far more strongly at the opioid
    # receptor than mitragynine.
    about = ("7-OH acts far more strongly at the opioid receptor than mitragynine, the main substance in kratom "
             "leaf, and the US FDA recommended scheduling it as a controlled substance in July 2025.")
    return [Finding(
        "concentrated_7oh", "kratom", "warning" if known else "high", key,
        f"{seen} {about} {drowsy_warning(ctx, dose.taken_at)} {NALOXONE} {CLINICIAN}",
        late_evidence(ctx, {"date": day.isoformat(), "dose_ids": [str(d.id) for d in doses]}, dose.taken_at),
        alert_caregivers=not known and not late, cooldown=False, digest=True)]


# 5 ─ risky combinations --------------------------------------------------------------------------

def combination(ctx, dose):
    """Kratom or a 7-OH product within the plan's window of a sedating substance (high: breathing) or
    an ADHD stimulant (warning: heart): one prompt per partner kind and local day, listing the day's
    pairs. A combination already sounded in the week before comes back as a warning, not an alarm."""
    partners = SEDATING_KINDS + (STIMULANT,)
    window = dt.timedelta(hours=ctx.plan["combination_window_hours"])
    nearby = [other for other in ctx.doses(dose.taken_at - window, dose.taken_at + window
                                           + dt.timedelta(microseconds=1)) if other.id != dose.id]
    if opioid_type(dose):
        pairs = [(dose, other) for other in nearby if not opioid_type(other) and other.substance_kind in partners]
    elif dose.substance_kind in partners:
        pairs = [(other, dose) for other in nearby if opioid_type(other)]
    else:
        pairs = []
    # The situations this dose is part of: a partner kind on a local day, as late as its latest pair.
    situations = {}
    for kratom, partner in pairs:
        happened = max(kratom.taken_at, partner.taken_at)
        situation = (partner.substance_kind, ctx.local_date(happened))
        situations[situation] = max(situations.get(situation, happened), happened)
    return [_combination_finding(ctx, kind, day, happened, window)
            for (kind, day), happened in situations.items()]


def _pairs_of_the_day(ctx, kind, day, window):
    """Every (kratom or 7-OH, partner of `kind`) pair within the window whose later dose fell on `day`."""
    start, end = ctx.day_bounds(day)
    doses = ctx.doses(start - window, end)
    kratom = [d for d in doses if opioid_type(d)]
    partners = [d for d in doses if d.substance_kind == kind and not opioid_type(d)]
    pairs = [(k, p) for k in kratom for p in partners
             if abs(k.taken_at - p.taken_at) <= window and start <= max(k.taken_at, p.taken_at) < end]
    return sorted(pairs, key=lambda pair: (max(pair[0].taken_at, pair[1].taken_at), min(pair[0].taken_at,
                                                                                        pair[1].taken_at)))


def _combination_finding(ctx, kind, day, happened, window):
    key = f"combination:{kind}:{day.isoformat()}"
    known = ctx.sounded("combination", kind, key)
    late = ctx.late(happened)
    pairs = _pairs_of_the_day(ctx, kind, day, window)
    hours = [abs(k.taken_at - p.taken_at).total_seconds() / 3600 for k, p in pairs]
    evidence = late_evidence(ctx, {"date": day.isoformat(), "pairs": [[str(k.id), str(p.id)] for k, p in pairs],
                                   "hours_apart": [round(h, 2) for h in hours]}, happened)
    taken = {what_was_taken(k) for k, _ in pairs}
    pair = f"{taken.pop() if len(taken) == 1 else 'kratom or a 7-OH product'} and {substance_phrase(kind)}"
    first = min(pairs[0][0].taken_at, pairs[0][1].taken_at)
    if len(pairs) == 1:
        seen = f"You logged {pair} {hours[0]:.1f} hours apart ({ctx.local_time(first)})"
    else:
        seen = (f"You logged {pair} within {window.total_seconds() / 3600:g} hours of each other {len(pairs)} times "
                f"on {day:%a %d %b} (from {first.astimezone(ctx.tz):%H:%M}, the closest {min(hours):.1f} hours "
                "apart)")
    seen += ", again as in the past week." if known else "."
    if kind == STIMULANT:
        # Stimulant labelling (FDA) and US poison centre kratom exposures (Post et al., Clin Toxicol
        # 2019) name a fast heart, high blood pressure and seizures.
        return Finding(
            "combination", kind, "warning", key,
            f"{seen} Together they can raise heart rate and blood pressure. Chest pain, fainting or a seizure "
            f"are emergencies: call {ctx.emergency_services}. {CLINICIAN}",
            evidence, cooldown=False, digest=True)
    risk = "Together they can slow breathing dangerously."
    if kind != "alcohol":
        # CDC MMWR 68(14), 2019; not said of alcohol, which that study does not single out.
        risk += (" Most kratom-related overdose deaths studied by the CDC also involved other substances, most "
                 "often opioids.")
    return Finding(
        "combination", kind, "warning" if known else "high", key,
        f"{seen} {risk} {drowsy_warning(ctx, happened)} {NALOXONE} {CLINICIAN}",
        evidence, alert_caregivers=not known and not late, cooldown=False, digest=True)


# 6 ─ a dose whose form may be 7-OH ---------------------------------------------------------------

# Product names that say 7-OH or a related concentrate: "7-OH", "7OH", "7 OH", "7-hydroxy…",
# "Hydroxy", "hydroxymitragynine", "Pseudo", "pseudoindoxyl" … but not hydroxyzine or pseudoephedrine.
SEVEN_OH_NAME = re.compile(
    r"7\s*[-‐–_.]?\s*(oh\b|hydroxy)|\bhydroxy(\b|\s*-?\s*mitra)|\bpseudo(\b|\s*-?\s*(indoxyl|mitra))",
    re.IGNORECASE)
# Leaf, powder and capsules are weighed in grams; concentrated 7-OH products are sold by the
# milligram. Kratom logged in mg or mcg under 1 g looks like the second: worth a question.
MILLIGRAM_SCALE = 1.0  # grams


def form_check(ctx, dose):
    """A product named like 7-OH, or kratom in milligrams under 1 g, logged under another form: ask
    the person to confirm the form (their record is never changed), once per product and form."""
    if dose.form == SEVEN_OH:
        return []
    product = (dose.product or "").strip()
    if product and SEVEN_OH_NAME.search(product):
        reason = "name"
        seen = (f"The dose you logged at {ctx.local_time(dose.taken_at)} names “{product}”, which reads like a "
                f"concentrated 7-OH product, but its form is {form_words(dose.form)}.")
    elif (dose.substance_kind == "kratom" and dose.unit in ("mg", "mcg")
          and convert(dose.amount, dose.unit, "g") < MILLIGRAM_SCALE):
        reason = "amount"
        seen = (f"The kratom you logged at {ctx.local_time(dose.taken_at)} is "
                f"{display_amount(dose.amount, dose.unit)}, logged as {form_words(dose.form)}: leaf and capsules "
                "are usually weighed in grams, concentrated 7-OH products in milligrams.")
    else:
        return []
    product_key = hashlib.sha256(product.casefold().encode()).hexdigest()[:16]
    return [Finding(
        "form_check", "form", "info", f"form_check:{reason}:{dose.form}:{product_key}",
        f"{seen} If it is a concentrated 7-OH product, please correct the dose's form, so that your record and its "
        "safety checks treat it as one; nothing was changed. If you are unsure what a product contains, a "
        "pharmacist or your clinician can help.",
        {"dose_id": str(dose.id), "reason": reason, "form": dose.form}, cooldown=False)]


# 7 ─ worsening pain or ADHD symptoms --------------------------------------------------------------

def _daily_means(ctx, checkins, score):
    per_day = {}
    for checkin in checkins:
        value = score(checkin)
        if value is not None:
            per_day.setdefault(ctx.local_date(checkin.recorded_at), []).append(value)
    return {day: statistics.fmean(values) for day, values in per_day.items()}


def _adhd_mean(checkin):
    values = [getattr(checkin, item) for item in ADHD_ITEMS if getattr(checkin, item) is not None]
    return statistics.fmean(values) if values else None


WORSENING_MEASURES = {
    # measure: (score of one check-in, how much above baseline counts as worse, scale). PEG asks
    # about the past week; the daily "pain today" item is what can change day by day.
    "pain": (lambda c: getattr(c, DAILY_PAIN), 1.0, "pain today score (0–10)"),
    "adhd": (_adhd_mean, 0.5, "ADHD symptom score (0–4)"),
}


def worsening(ctx, checkin):
    """The daily mean of pain today or of the ADHD items is worse than the person's own 14-day
    baseline on the last 3 days running."""
    days_running, baseline_days = ctx.plan["worsening_days"], ctx.plan["baseline_days"]
    last_day = ctx.local_date(checkin.recorded_at)
    first_recent = last_day - dt.timedelta(days=days_running - 1)
    first_baseline = first_recent - dt.timedelta(days=baseline_days)
    rows = ctx.checkins(ctx.day_bounds(first_baseline)[0], ctx.day_bounds(last_day)[1])
    findings = []
    for measure_name, (score, margin, label) in WORSENING_MEASURES.items():
        means = _daily_means(ctx, rows, score)
        baseline = [value for day, value in means.items() if day < first_recent]
        recent = [means.get(first_recent + dt.timedelta(days=i)) for i in range(days_running)]
        if len(baseline) < baseline_days // 2 or any(value is None for value in recent):
            continue
        reference = statistics.fmean(baseline)
        if all(value >= reference + margin for value in recent):
            findings.append(Finding(
                "worsening", measure_name, "warning", f"worsening:{measure_name}:{last_day.isoformat()}",
                f"Your {label} has been higher than your own {baseline_days}-day average of {reference:.1f} on "
                f"{days_running} days running ({', '.join(f'{v:.1f}' for v in recent)}). {CLINICIAN}",
                {"baseline": round(reference, 2), "recent": [round(v, 2) for v in recent],
                 "last_day": last_day.isoformat()}))
    return findings


# 8 ─ withdrawal ----------------------------------------------------------------------------------

# ADHD alone produces these, so they weigh least and never raise the prompt on their own.
ADHD_LIKE_WITHDRAWAL = ("anxiety", "restlessness", "irritability")
SPECIFIC_WEIGHT, OTHER_WEIGHT, ADHD_LIKE_WEIGHT = 1.5, 1.0, 0.5
SEIZURE_RISK_DAYS = 14


# Tremor and sweating are the first signs of alcohol or benzodiazepine withdrawal (both are items
# of the CIWA-Ar, Sullivan et al. 1989): for people who use those, they weigh as specific signs.
SEIZURE_RISK_SIGNS = ("tremor", "sweating")


def withdrawal_score(checkin, specific=SPECIFIC_WITHDRAWAL_SIGNS):
    """Each listed symptom weighs 1, a specific sign 1.5, an ADHD-like one 0.5; a rated symptom
    counts its rating (1–4) halved times that (so an unrated one counts as a moderate 2)."""
    total = 0.0
    for symptom in checkin.withdrawal_symptoms:
        weight = (SPECIFIC_WEIGHT if symptom in specific
                  else ADHD_LIKE_WEIGHT if symptom in ADHD_LIKE_WITHDRAWAL else OTHER_WEIGHT)
        rating = (checkin.withdrawal_severity or {}).get(symptom)
        total += weight * (rating / 2 if rating is not None else 1)
    return round(total, 2)


def beyond_adhd(checkin):
    return any(symptom not in ADHD_LIKE_WITHDRAWAL for symptom in checkin.withdrawal_symptoms)


def withdrawal(ctx, checkin):
    """A check-in's withdrawal score reaches the plan's threshold, or rises over 3 check-ins, with
    at least one symptom ADHD does not explain. For someone who logged alcohol or a benzodiazepine
    in the 14 days before, high (stopping those suddenly can cause seizures), and tremor and
    sweating weigh as specific signs."""
    if not beyond_adhd(checkin):
        return []
    since = checkin.recorded_at - dt.timedelta(days=SEIZURE_RISK_DAYS)
    risky = sorted({d.substance_kind for d in ctx.doses(since, checkin.recorded_at + dt.timedelta(microseconds=1),
                                                        kinds=list(SEIZURE_RISK_WITHDRAWAL_KINDS))})
    specific = SPECIFIC_WITHDRAWAL_SIGNS + (SEIZURE_RISK_SIGNS if risky else ())
    score = withdrawal_score(checkin, specific)
    symptoms = list(checkin.withdrawal_symptoms)
    if score >= ctx.plan["withdrawal_symptom_count"]:
        subject, key = "symptoms", f"withdrawal:{checkin.id}"
        seen = (f"Your check-in of {ctx.local_time(checkin.recorded_at)} lists withdrawal symptoms "
                f"({', '.join(map(words, symptoms))}).")
        evidence = {"checkin_id": str(checkin.id), "symptoms": symptoms, "score": score}
    else:
        recent = ctx.last_checkins(checkin.recorded_at, 3)
        scores = [withdrawal_score(c, specific) for c in recent]
        if len(scores) < 3 or not scores[0] < scores[1] < scores[2]:
            return []
        subject, key = "rising", f"withdrawal_rising:{checkin.id}"
        seen = (f"The withdrawal symptoms in your last three check-ins have grown "
                f"({' → '.join(f'{s:g}' for s in scores)}, weighing specific signs most).")
        evidence = {"checkin_ids": [str(c.id) for c in recent], "scores": scores}
    if not risky:
        return [Finding("withdrawal", subject, "warning", key, f"{seen} {ctx.crisis_line} {CLINICIAN}", evidence)]
    late = ctx.late(checkin.recorded_at)
    care = ("If you still have them, please get medical care today." if late
            else "Please get medical care today.")
    return [Finding(
        "withdrawal", subject, "high", key,
        f"{seen} You logged {' and '.join(map(substance_phrase, risky))} in the last {SEIZURE_RISK_DAYS} days: "
        f"stopping or cutting down alcohol or a benzodiazepine suddenly can cause seizures. {care} "
        f"If a seizure happens, call {ctx.emergency_services}. Tell them about every substance you use, kratom "
        "included.",
        late_evidence(ctx, {**evidence, "seizure_risk": risky}, checkin.recorded_at),
        alert_caregivers=not late)]


# 9 ─ liver warning signs -------------------------------------------------------------------------

def liver(ctx, checkin):
    """Any liver warning sign (the vocabulary's list, the one the report shows): seek care today."""
    signs = [s for s in checkin.side_effects if s in LIVER_WARNING_SIGNS]
    if not signs:
        return []
    day = ctx.local_date(checkin.recorded_at)
    late = ctx.late(checkin.recorded_at)
    # NIH LiverTox: kratom liver injury shows 1–8 weeks after starting, with these signs.
    care = ("If you still have them, please seek medical care today" if late
            else "Please seek medical care today")
    return [Finding(
        "liver", "liver", "high", f"liver:{day.isoformat()}",
        f"Your check-in of {ctx.local_time(checkin.recorded_at)} notes {', '.join(map(words, signs))}. "
        f"{'These can be signs' if len(signs) > 1 else 'This can be a sign'} of liver injury, which has been "
        f"reported with kratom. {care}, "
        "and tell them about every substance you use, kratom included.",
        late_evidence(ctx, {"checkin_id": str(checkin.id), "signs": signs}, checkin.recorded_at),
        alert_caregivers=not late)]


# 10 ─ emergency signs ----------------------------------------------------------------------------

def emergency(ctx, checkin):
    """Slowed breathing, a seizure, chest pain or fainting noted in a check-in: call emergency services."""
    signs = [s for s in EMERGENCY_SIGNS if s in checkin.side_effects]
    if not signs:
        return []
    late = ctx.late(checkin.recorded_at)
    if late:
        act = (f"If it happens again, call {ctx.emergency_services} at once, and tell your clinician about it "
               "today.")
    else:
        act = (f"If it is happening now, or someone is very drowsy or hard to wake, call {ctx.emergency_services} "
               "now. Tell your clinician about it today.")
    breathing = ""
    if "slowed_breathing" in signs:
        breathing = (" With kratom, 7-OH, opioids, benzodiazepines, alcohol or other sedatives slowed breathing can "
                     f"become dangerous quickly. {NALOXONE}")
    return [Finding(
        "emergency", signs[0], "high", f"emergency:{checkin.id}",
        f"Your check-in of {ctx.local_time(checkin.recorded_at)} notes {', '.join(map(words, signs))}. {act}"
        f"{breathing}",
        late_evidence(ctx, {"checkin_id": str(checkin.id), "signs": signs}, checkin.recorded_at),
        alert_caregivers=not late)]


# 11 ─ missed check-ins and doses -----------------------------------------------------------------

def missed_checkins(ctx, last_checkin_at, reminders_since):
    """No check-in for 48 hours while check-in reminders are active."""
    hours = ctx.plan["missed_checkin_hours"]
    reference = max(filter(None, (last_checkin_at, reminders_since)))
    if ctx.now - reference < dt.timedelta(hours=hours):
        return []
    # Keyed on the start of the silence: reminders switched on again later start a new one.
    return [Finding(
        "missed_checkins", "checkins", "warning", f"missed_checkins:{reference.isoformat()}",
        f"No check-in has been recorded for {hours} hours while your check-in reminders are on. "
        f"If something is wrong, your clinician or the people you share with can help. {ctx.crisis_line}",
        {"last_checkin_at": last_checkin_at.isoformat() if last_checkin_at else None}, alert_caregivers=True)]


def missed_dose(ctx, occurrence):
    """A dose reminder the person asked caregivers to be alerted about was not confirmed in its window."""
    window = occurrence.schedule.confirm_within_minutes
    return Finding(
        "missed_dose", "dose_reminder", "warning", f"missed_dose:{occurrence.id}",
        f"Your dose reminder of {ctx.local_time(occurrence.due_at)} was not confirmed within {window} minutes. "
        "As you chose for this reminder, the people you share alerts with are told that an update needs their "
        "attention. If doses are often hard to keep track of, your clinician or pharmacist can help.",
        {"occurrence_id": str(occurrence.id), "due_at": occurrence.due_at.isoformat()},
        # Each missed dose the person asked to be alerted about is alerted: no cooldown.
        alert_caregivers=True, cooldown=False)


DOSE_RULES = (daily_limit, min_interval, escalation, concentrated_7oh, combination, form_check)
CHECKIN_RULES = (worsening, withdrawal, liver, emergency)

# What each rule's message and evidence tell of the person's data, by share scope: someone the
# person shares prompts with, but not these, reads that the rule fired, not what it saw. Withdrawal
# names the alcohol or benzodiazepine behind a seizure risk; an unknown rule needs every scope.
DRAWS_ON = {
    **{rule.__name__: ("doses",) for rule in DOSE_RULES},
    **{rule.__name__: ("checkins",) for rule in CHECKIN_RULES},
    "withdrawal": ("checkins", "doses"),
    "missed_checkins": ("checkins",),
    "missed_dose": (),
}
