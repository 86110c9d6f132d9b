"""Slack listeners, one package per Slack surface, all registered here.

Listeners find the services and the parsed request in Bolt's context;
they ack, call a service and render. Access checks and value parsing are listener
middleware, and every failure goes to the one error handler (bot/slack/answers.py).
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.answers import ErrorAnswers
from bot.slack.middleware import ProvideServices
from bot.slack.services import Services
from handlers import actions, commands, events, options, views


def register(app: AsyncApp, services: Services) -> None:
    app.use(ProvideServices(services))
    app.error(ErrorAnswers())
    commands.register(app)
    actions.register(app)
    views.register(app)
    options.register(app)
    events.register(app)
