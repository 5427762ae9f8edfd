"""A generic, durable saga engine: definitions, fault plans, the saga log and the runner.

It knows nothing about flights; orchestrator/booking_saga.py defines the booking saga with it.
"""
