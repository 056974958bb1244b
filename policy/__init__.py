"""Pure policy: plain functions and tables with no Temporal import, unit-tested on their own.

Workflows call these; keeping them free of Temporal makes every rule testable in microseconds and
keeps the workflow code about sequencing, not about business rules.
"""
