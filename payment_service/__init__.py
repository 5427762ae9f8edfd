"""payment_service: a simulated card processor with a ledger (saga step `process_payment`).

card_processor (Luhn, expiry, brand, test cards), ledger (charges and refunds), servicer, app.
Run with `python -m payment_service` (port 50053).
"""
