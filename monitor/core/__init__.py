"""The pure core: feed and page parsing, poll and schedule decisions, versions and diffs, watch queries and
matching, story grouping, alert rendering, delivery decisions.

Owns every decision that can be made from plain data: bytes, dataclasses and a `now` passed in. Reads no
clock, environment, network or database. May import only monitor.core, monitor.models and monitor.errors
(and pure libraries); tests/unit/test_layers.py holds it to that. Its data ships with it: the default alert
templates are package data in core/templates/, read once at import.
"""
