"""The live link between Asterisk's queues and the console: agents' queue membership, queue events
turned into queue-call records, screen pops and automatic callbacks, and the supervisors' wallboard.

It holds one AMI link (``ivr.telephony.ami_link``), speaks to Asterisk through
``ivr.telephony.queues`` and keeps the record through domain services; the web
layer calls it and never AMI. docs/console.md tells the whole story.
"""
