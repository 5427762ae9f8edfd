"""The scenario matrix: every fault kind against every step of the booking saga.

`columns` says what each fault does and what each cell must end with; `effects` reads what
each participant holds for a saga; `cells` runs the cells against a stack and judges them;
`report` writes saga_test_report.json and the HTML table; `cli` is `flightsaga matrix`.
"""
