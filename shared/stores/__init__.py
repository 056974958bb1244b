"""What several worker machines must share, behind one URL: the delivery ledger and the payload
store.

``TICKETS_DATABASE_URL`` (a ``postgresql://`` URL) puts both in PostgreSQL; unset, the ledger is a
SQLite file and payloads are files under the data directory (one machine). ``factory`` is the one
place that reads that choice from the environment; the worker, the command-line client (through
``shared.data_converter``) and the tests get their stores from it. Never imported by workflow code.
"""
