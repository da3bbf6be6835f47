"""Fixed symptom vocabularies (our own words, not a licensed instrument's items)."""

# Signs specific to opioid-type withdrawal; anxiety, restlessness and irritability are left out of
# this list because ADHD alone produces them, so they weigh less in the withdrawal rule.
SPECIFIC_WITHDRAWAL_SIGNS = (
    "yawning", "runny_eyes_or_nose", "gooseflesh", "diarrhoea", "aching", "vomiting",
)
WITHDRAWAL_SYMPTOMS = (
    "anxiety", "yawning", "sweating", "runny_eyes_or_nose", "gooseflesh", "tremor",
    "hot_and_cold_flushes", "aching", "restlessness", "nausea", "cramps", "diarrhoea",
    "craving", "insomnia", "irritability", "vomiting",
)
# How strong a withdrawal symptom was, as the person rates it: 0 none … 4 severe.
WITHDRAWAL_SEVERITY = (0, 4)

# Kratom-associated liver injury shows 1–8 weeks after starting (NIH LiverTox; in the NIH DILIN
# kratom cases most people had itching): these signs mean "seek medical care today", so the
# monitoring rules single them out, and the report's liver box shows exactly these.
LIVER_WARNING_SIGNS = (
    "dark_urine", "yellow_skin_or_eyes", "upper_right_belly_pain", "unusual_fatigue", "fever",
    "pale_stools", "itching",
)

# Signs that call for emergency services at once, whatever else was logged.
EMERGENCY_SIGNS = ("slowed_breathing", "seizure", "chest_pain", "fainting")

SIDE_EFFECTS = (
    "constipation", "dizziness", "drowsiness", "loss_of_appetite", "nausea", "vomiting", "confusion",
    "headache", "dry_mouth", "fast_heartbeat", "sweating", "insomnia",
) + EMERGENCY_SIGNS + LIVER_WARNING_SIGNS
