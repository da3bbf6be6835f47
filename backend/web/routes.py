"""`GET /r/<token>`: the clinician report, as an HTML page (outside the JSON API and its spec).

The page and its assets come from this app alone, under a Content-Security-Policy that allows
nothing else: no inline script, no third-party request, no framing, no form posts.
"""

import functools
import hashlib
from pathlib import Path

from flask import Blueprint, render_template, request, url_for

from backend.api import request_client, unit_of_work
from backend.budgets import GuessBudget
from backend.reports import view_report

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/r/assets")

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "connect-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"))
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# Assets are addressed by a hash of their content, so a day of caching never serves a stale one.
ASSET_MAX_AGE = 24 * 3600
# Every look-up is counted before the token is checked, per address and for everyone together
# (see backend.budgets); a valid link is refunded, so a clinician rereading is never stopped. Once
# an address is over the limit every look-up from it waits, valid or not, so the answers stop
# telling a guesser anything.
UNKNOWN_TOKEN_LIMIT = "20 per 10 minutes; 100 per day"
REPORT_GUESSES = GuessBudget("report-links", limits={"address": UNKNOWN_TOKEN_LIMIT}, ceiling="2000 per hour")


@bp.get("/r/<token>")
@unit_of_work
def clinician_report(token):
    """A clinician's read-only report; the same plain 404 for unknown, revoked and expired links."""
    spent = REPORT_GUESSES.spend(address=request.remote_addr)
    report = view_report(token, request_client())
    if report is None:
        return render_template("web/unavailable.html"), 404
    spent.refund()
    return render_template("web/report.html", report=report)


@bp.errorhandler(429)
def too_many_lookups(error):
    """Too many unknown links from this address: a plain page, not the API's problem+json."""
    return render_template("web/throttled.html"), 429


@bp.after_request
def set_headers(response):
    if request.endpoint == "web.static":
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.cache_control.public = True
        response.cache_control.max_age = ASSET_MAX_AGE
    else:
        response.headers.update(PAGE_HEADERS)
    return response


@functools.cache
def _asset_version(filename):
    return hashlib.sha256((Path(bp.static_folder) / filename).read_bytes()).hexdigest()[:12]


@bp.app_template_global()
def asset_url(filename):
    """The address of a static asset of these pages, versioned by its content."""
    return url_for("web.static", filename=filename, v=_asset_version(filename))


@bp.app_template_filter()
def day(value):
    """`2026-03-01` → `Sun 1 Mar 2026`."""
    return f"{value:%a} {value.day} {value:%b %Y}"


@bp.app_template_filter()
def short_day(value):
    """`2026-03-01` → `1 Mar`."""
    return f"{value.day} {value:%b}"


@bp.app_template_filter()
def number(value, places=1):
    """A measurement for reading: at most `places` decimals, no trailing zeros; — for none."""
    if value is None:
        return "—"
    return f"{value:.{places}f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
