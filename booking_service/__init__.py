"""booking_service: confirmed bookings with PNR-style references (saga step `confirm_booking`).

pnr (reference alphabet), bookings (create, cancel, look up), servicer, app.
Run with `python -m booking_service` (port 50054).
"""
