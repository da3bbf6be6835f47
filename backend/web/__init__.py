"""Server-rendered pages: the clinician report behind a report link, and its static assets."""
