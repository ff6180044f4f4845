"""The supervision slice (issue 14): the shift supervisor's live wallboard and
listening in, the appeal's whole life, deadlines and the daily digest, and the
statistics the standards publish (REQ-A3, A5–A12, REQ-T7)."""
