"""Customer surveys (REQ-A13): CSI and NPS asked after an operator's call."""
