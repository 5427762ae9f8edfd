"""car_service: rental cars per city and class, and the rentals of each saga (trip saga step
`rent_car`). fleet (fleet, rentals; seeded fleet listed there), servicer, app.
Run with `python -m examples.trip.car_service` (port 50056).
"""
