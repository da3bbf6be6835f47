"""Reports: what someone a patient shares with reads — the clinician report page behind a report
link, the viewer summary, and the `/v1/patients/{id}/…` reads, all behind one scoped-read helper."""

from backend.reports.services import view_report

__all__ = ["view_report"]
