"""Capability wiring for `hotline run`: AMI subscriptions and extra components."""
