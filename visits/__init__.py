"""Visits to customer offices (REQ-T11): see :mod:`visits.plugin`."""
