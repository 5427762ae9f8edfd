"""`python -m cli`: the same as the `flightsaga` console script."""

from cli.main import main

main()
