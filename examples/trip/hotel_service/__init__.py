"""hotel_service: hotel rooms per city and the stays booked in them (trip saga step
`book_room`). rooms (cities, stays; seeded cities listed there), servicer, app.
Run with `python -m examples.trip.hotel_service` (port 50055).
"""
