"""The dashboard's routes, one module per page or API: pages (the HTML pages, static files,
health), sagas (bookings, the saga records, their events, log and proof), flights (search),
session (sign-in, and what the pages show about the deployment)."""
