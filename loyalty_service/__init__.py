"""loyalty_service: loyalty accounts and their points ledger (saga step `deduct_loyalty_points`).

ledger (accounts, deductions, refunds; seeded accounts listed there), servicer, app.
Run with `python -m loyalty_service` (port 50052).
"""
