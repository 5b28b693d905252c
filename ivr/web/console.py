"""The agents' console pages: the landing page, the customer search and the customer 360."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request, url_for

from ivr.config import get_settings
from ivr.domain import customer_view
from ivr.domain.errors import ValidationError
from ivr.web.access import READABLE_LISTS, VIEW_CUSTOMERS
from ivr.web.api import customer_query, customer_viewed, history_page
from ivr.web.auth import login_required

console = Blueprint("console", __name__)
SEARCH_KINDS = ((customer_view.SearchKind.NAME, "name"), (customer_view.SearchKind.PHONE, "phone number"),
                (customer_view.SearchKind.POLICY, "policy number"),
                (customer_view.SearchKind.NATIONAL_ID, "national ID last 4 + birth date"))


@console.get("/")
@login_required()
def home() -> str:
    """Who is logged in, and the lists their role may read."""
    lists = [(title, url_for(endpoint)) for title, endpoint, roles in READABLE_LISTS if g.user.role in roles]
    return render_template("console.html", user=g.user, lists=lists,
                           can_find_customers=g.user.role in VIEW_CUSTOMERS)


@console.get("/customers")
@login_required(VIEW_CUSTOMERS)
def find_customers() -> tuple[str, int]:
    """The search form, and its hits when a query was sent; a query that cannot be run says why (400)."""
    hits, problem, status = None, None, 200
    if request.args.get("q", "").strip():
        try:
            hits = customer_view.search_customers(customer_query())
        except ValidationError as error:
            problem, status = error.message, 400
    return render_template("customer_search.html", hits=hits, problem=problem, args=request.args,
                           kinds=SEARCH_KINDS, limit=customer_view.MAX_HITS), status


@console.get("/customers/<int:customer_id>")
@login_required(VIEW_CUSTOMERS)
def customer_page(customer_id: int) -> str:
    settings = get_settings()
    view = customer_view.customer_360(customer_id, settings.today(), *history_page())
    customer_viewed(customer_id)
    return render_template("customer_360.html", c=view, zone=settings.zone())
