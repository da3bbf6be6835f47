"""Fixed symptom vocabularies (our own words, not a licensed instrument's items)."""

WITHDRAWAL_SYMPTOMS = (
    "anxiety", "yawning", "sweating", "runny_eyes_or_nose", "gooseflesh", "tremor",
    "hot_and_cold_flushes", "aching", "restlessness", "nausea", "cramps", "diarrhoea",
    "craving", "insomnia", "irritability",
)

# Kratom-associated liver injury shows 1–8 weeks after starting (NIH LiverTox): these signs mean
# "seek medical care today", so the monitoring rules single them out.
LIVER_WARNING_SIGNS = (
    "dark_urine", "yellow_skin_or_eyes", "upper_right_belly_pain", "unusual_fatigue", "fever",
)

SIDE_EFFECTS = (
    "constipation", "dizziness", "drowsiness", "itching", "loss_of_appetite", "nausea",
    "headache", "dry_mouth", "fast_heartbeat", "sweating", "insomnia", "slowed_breathing",
) + LIVER_WARNING_SIGNS
