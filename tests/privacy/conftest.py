"""The private stack's fixtures (tests/support/private_stack.py), for the modules that ask for
them: module-scoped, so each such module starts its own stack."""

from tests.support.private_stack import stack, tickets  # noqa: F401 (fixtures)
