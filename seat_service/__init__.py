"""seat_service: flight schedule, fares, seat maps and seat holds (saga step `reserve_seat`).

schedule (generated timetable and aircraft), inventory (holds in SQLite), search, servicer
(protobuf <-> domain), app (wiring). Run with `python -m seat_service` (port 50051).
"""
