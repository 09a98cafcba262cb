"""Targets: a booted system the suites run documented commands on."""
