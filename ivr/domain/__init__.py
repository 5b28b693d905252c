"""Insurance logic with typed results: no telephony, no web."""
