"""IVR flows, written against the small Channel interface; they read like the call."""
