"""Product problems: one alert (and one Slack message) per product, whose state moves.

Low stock, out of stock and backorders are states of the same alert, decided in
`states` from a product's facts, brought in line by `evaluate` and kept current by
`freshness` whenever any of the product's offers changes.
"""
