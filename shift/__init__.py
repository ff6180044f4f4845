"""The operators' shift: presence in the queue (log-in, pauses, wrap-up),
their SIP phones, and the shift's intervals for reports (issue 12)."""
