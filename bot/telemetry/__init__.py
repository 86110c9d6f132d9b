"""What Stockbot says about itself: Prometheus metrics and log formatting.

Every layer may count here; nothing here imports the rest of the bot.
"""
