"""Types and helpers shared by workflows, activities, the worker and the command-line client.

Everything here is safe to import from workflow code (through
``workflow.unsafe.imports_passed_through()``) except ``temporal_client``, ``data_converter``,
``settings`` and ``stores``, which touch the environment, files or databases and are only for
processes (the worker, the starter, tests).
"""
