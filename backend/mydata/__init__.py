"""My data: `GET /v1/me/export` hands over everything a person has (JSON, CSV files in a ZIP, or a
FHIR R4 Bundle) and `DELETE /v1/me` removes it, both built from the parts each feature declares
(`backend.mydata.parts`)."""
