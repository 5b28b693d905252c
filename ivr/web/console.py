"""The agents' console pages. For now the landing page; the screen pop and customer 360 come next."""

from __future__ import annotations

from flask import Blueprint, g, render_template, url_for

from ivr.web.access import READABLE_LISTS
from ivr.web.auth import login_required

console = Blueprint("console", __name__)


@console.get("/")
@login_required()
def home() -> str:
    """Who is logged in, and the lists their role may read."""
    lists = [(title, url_for(endpoint)) for title, endpoint, roles in READABLE_LISTS if g.user.role in roles]
    return render_template("console.html", user=g.user, lists=lists)
