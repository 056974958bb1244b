"""Delivery of answers to customers: the ledger decides which answer, a channel sends it.

``activity.DeliveryActivities`` is the ``deliver_response`` activity; ``config`` reads the
channels from the environment; ``webhook`` and ``smtp`` are the channels that leave the system.
"""
