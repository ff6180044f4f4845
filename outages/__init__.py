"""The outage register (issue 16): dispatchers' planned and emergency outages,
their import, the grid company's API, and surge detection."""
