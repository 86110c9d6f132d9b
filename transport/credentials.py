"""Credentials for outbound calls: named in the config, read from the environment,
and kept out of every message."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HIDDEN = "[hidden]"


def env_var_is_set(name: str, info: ValidationInfo) -> str:
    """Check the variable exists when the loader passes `context={"env": ...}`.

    Declared per value so a failure is located at e.g. headers_env.<header>.
    """
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid environment variable name")
    env = (info.context or {}).get("env")
    if env is not None and name not in env:
        raise ValueError(f"environment variable {name} is not set")
    if env is not None and not env[name].strip():
        raise ValueError(f"environment variable {name} is empty")
    return name


# The name of an environment variable that must be set (checked when the config loads).
EnvVarName = Annotated[str, AfterValidator(env_var_is_set)]


def credential_problem(env: Mapping[str, str], variable: str, service: str) -> str | None:
    """Why `variable` cannot be used as a credential, or None when it can."""
    value = env.get(variable, "").strip()
    if not value:
        return f"{service} needs the environment variable {variable}, which is not set"
    if any(char in value for char in "\r\n\0"):
        return f"The environment variable {variable} must hold a single line"
    return None


def redact(text: str, secrets: Iterable[str], limit: int) -> str:
    """Service-sent text for a message: secrets hidden, whitespace folded, length capped."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _HIDDEN)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
