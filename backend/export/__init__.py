"""`GET /v1/me/export`: everything a person has, as JSON, as CSV files in a ZIP, or as a FHIR R4 Bundle."""
