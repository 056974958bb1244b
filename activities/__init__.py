"""Everything that touches the world: LLM providers, the knowledge base, delivery.

Activities are where retries, timeouts and heartbeats apply; workflows never import this package
(they call activities by the names in ``shared.names``).
"""
