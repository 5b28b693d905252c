"""Who may read what, in one place (the matrix in docs/console.md is this file).

Agents serve callers: they need the caller's claims and complaints. Checks of
sales agents' codes and fraud alerts are for quality, supervisors and admins.
Agents and supervisors work calls (wrap-ups, callback requests); the others
read the callback list and wrap-ups without changing them. Supervisors and
admins run the outbound campaigns.
"""

from __future__ import annotations

from ivr.domain.users import ConsoleRole

EVERY_ROLE = frozenset(ConsoleRole)
VIEW_CUSTOMERS = EVERY_ROLE  # customer search and the customer 360 (each view is logged)
SERVE_CALLERS = EVERY_ROLE  # claims, complaint tickets
OVERSIGHT = frozenset({ConsoleRole.QUALITY, ConsoleRole.SUPERVISOR, ConsoleRole.ADMIN})  # agent checks, fraud alerts
WORK_CALLS = frozenset({ConsoleRole.AGENT, ConsoleRole.SUPERVISOR})  # wrap up calls, take and finish callbacks
TAKE_CALLS = frozenset({ConsoleRole.AGENT})  # the agent desk: queues, pauses, screen pops
SUPERVISE = frozenset({ConsoleRole.SUPERVISOR, ConsoleRole.ADMIN})  # the wallboard
MANAGE_CAMPAIGNS = frozenset({ConsoleRole.SUPERVISOR, ConsoleRole.ADMIN})  # outbound campaigns: define, start, figures
# Quality review: any agent's recordings, QA scorecards, KPI reports. Agents open only their own calls'
# recordings and evaluations (ivr/domain/quality.py); the recording access log is for admins.
REVIEW_CALLS = frozenset({ConsoleRole.QUALITY, ConsoleRole.SUPERVISOR, ConsoleRole.ADMIN})
ADMINISTER = frozenset({ConsoleRole.ADMIN})

# (title, endpoint, roles) of the API lists, for the console's landing page
READABLE_LISTS = (
    ("Claims", "api.list_claims", SERVE_CALLERS),
    ("Complaint tickets", "api.list_complaints", SERVE_CALLERS),
    ("Sales-agent checks", "api.list_agent_checks", OVERSIGHT),
    ("Fraud alerts", "api.list_fraud_alerts", OVERSIGHT),
    ("Callback requests", "work.callbacks_page", SERVE_CALLERS),
    ("My desk: queues and screen pops", "desk.desk_page", TAKE_CALLS),
    ("Wallboard", "desk.wallboard_page", SUPERVISE),
    ("Outbound campaigns", "campaigns.campaigns_page", MANAGE_CAMPAIGNS),
    ("Recordings and transcripts", "quality.recordings_page", EVERY_ROLE),
    ("QA evaluations", "quality.evaluations_page", EVERY_ROLE),
    ("KPI report", "quality.kpi_page", REVIEW_CALLS),
    ("Recording access log", "quality.access_log_page", ADMINISTER),
)
