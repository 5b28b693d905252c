"""The dialer: outbound campaign calls over AMI, paced, exactly once (docs/campaigns.md "The dialer").

``pacing`` (how many, how fast), ``dial`` (one attempt: rules, claim, Originate,
outcome), ``reconcile`` (attempts whose outcome never came). Celery tasks in
``ivr/tasks/campaigns.py`` call these; the rules live in ``ivr/domain/campaigns.py``.
"""
