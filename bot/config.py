"""Configuration: a TOML file for what to watch, the environment for secrets.

Every mistake is reported with the key's path and what was expected, and the
bot refuses to start rather than run half-configured.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from datetime import time as dt_time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.currency import DEFAULT_CURRENCY, currency_code
from bot.db.models import CSV_SOURCE
from bot.errors import ConfigError
from stores import REGISTRY as STORE_REGISTRY
from stores import StoreOptions
from suppliers import REGISTRY, AdapterOptions
from transport import duration_text

DEFAULT_SLACK_API_URL = "https://slack.com/api/"

FEED_POLL_TIMEOUT = timedelta(minutes=5)  # the longest default poll_timeout of a feed
# ...and of an API supplier, asked SKU by SKU at its pace: 1,800 SKUs at 1 request a
# second. A bigger catalog sets poll_timeout (and poll_interval) itself.
API_POLL_TIMEOUT = timedelta(minutes=30)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """'30s', '15m', '1h', '1h30m', '2d' or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        compact = value.strip().lower().replace(" ", "")
        parts = _DURATION_PART.findall(compact)
        if not compact or "".join(n + u for n, u in parts) != compact:
            raise ValueError(f"expected a duration such as '30s', '15m' or '1h', got {value!r}")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError(f"expected a duration such as '30s', '15m' or '1h', got {value!r}")
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackSection(_Section):
    alert_channel: str = Field(min_length=1, description="Channel ID (C0123…) or name (#stock).")
    # How long one Web API call may take. A post that times out may still have landed:
    # it is looked for in the channel before being posted again.
    api_timeout: Duration = timedelta(seconds=30)


class ReplicasSection(_Section):
    """Several `stockbot run` on one PostgreSQL database share the work."""

    # A process silent this long (killed, frozen) loses its suppliers and deliveries
    # to the others.
    takeover_after: Duration = timedelta(seconds=60)


class RulesSection(_Section):
    feed_guard_share: float = Field(0.5, gt=0, le=1)
    supplier_down_after: int = Field(3, ge=1)
    group_alerts_over: int = Field(10, ge=1)


class PathsSection(_Section):
    """Where Stockbot may read local files."""

    # Local supplier feeds must lie in this folder (relative to the config file;
    # default: the config file's folder), so a url cannot reach /etc/passwd.
    feeds_dir: Path | None = None


class CatalogSection(_Section):
    """How the catalog's prices read: one currency, an ISO 4217 code."""

    currency: str = DEFAULT_CURRENCY

    @field_validator("currency", mode="before")
    @classmethod
    def _iso_4217(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected an ISO 4217 currency code such as 'USD', got {value!r}")
        return currency_code(value)


class ForecastSection(_Section):
    """Seeing stockouts coming: how far ahead to warn and how much sales history to use."""

    # A product whose predicted stockout is this many days away or fewer is at risk.
    warn_days: int = Field(3, ge=1, le=365)
    # Days of sales history the rate is estimated from; 28 at least, so the last
    # 28 days' forecast error is always inside it.
    history_days: int = Field(90, ge=28, le=730)
    # Forecasts are recomputed after polls that change stock, and at least this often
    # (once across replicas): new orders and time passing move them too.
    recompute_every: Duration = timedelta(minutes=15)

    @field_validator("recompute_every")
    @classmethod
    def _at_least_a_minute(cls, every: timedelta) -> timedelta:
        if every < timedelta(minutes=1):
            raise ValueError("must be at least 1 minute (a recompute reads every product)")
        return every


class ReviewSection(_Section):
    """The daily review in the alert channel: at `time` (HH:MM) in `timezone` (an IANA
    name such as "Europe/Berlin"). Without a time, there is no daily review."""

    time: dt_time | None = None
    timezone: str = "UTC"

    @field_validator("time", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> dt_time | None:
        if value is None or isinstance(value, dt_time):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
            hours, minutes = (int(part) for part in value.strip().split(":"))
            if hours < 24 and minutes < 60:
                return dt_time(hours, minutes)
        raise ValueError(f'expected a time of day such as "09:00", got {value!r}')

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'expected an IANA time zone such as "Europe/Berlin", got {value!r}'
            ) from None
        return value

    @property
    def enabled(self) -> bool:
        return self.time is not None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ChartsSection(_Section):
    """The stock chart posted in an alert's thread when it opens."""

    enabled: bool = True
    # Without Slack, charts are saved here (relative to the config file) and their
    # path printed with the alert.
    folder: Path = Path("charts")


class AccessSection(_Section):
    """Who may act from Slack (switch, substitute, notify, acknowledge, snooze)."""

    allowed_users: list[str] = []
    allowed_usergroups: list[str] = []


class AutoSwitchSection(_Section):
    """Switch to an in-stock alternative by itself when the active supplier runs out."""

    enabled: bool = False
    max_price_increase_percent: float = Field(10.0, ge=0)


class EmailSection(_Section):
    """SMTP for customer notices; SMTP_USERNAME and SMTP_PASSWORD come from the environment."""

    smtp_host: str = Field(min_length=1)
    smtp_port: int = Field(587, ge=1, le=65535)
    from_address: str = Field(min_length=3)
    starttls: bool = True
    use_tls: bool = False
    store_name: str = "our store"
    reply_to: str | None = None
    # A folder with customer_notice.subject.j2 / customer_notice.txt.j2 overriding ours.
    templates_dir: Path | None = None
    timeout: float = Field(30, gt=0)


class WebSection(_Section):
    """Stockbot's public web address: customers' choice links in emails point under it."""

    # The HTTPS base URL at which `stockbot run --http` is reachable from the internet
    # (behind the same reverse proxy as the Slack endpoint). Unset: emails carry no links.
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _https_base(cls, url: str | None) -> str | None:
        if url is None:
            return None
        url = url.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(
                f"expected an https:// address such as 'https://bot.example.com', got {url!r}"
            )
        if parts.query or parts.fragment:
            raise ValueError("must be a base address, without ?query or #fragment")
        return url


class NotifySection(_Section):
    """Follow-up emails to customers already told about a delay."""

    # Tell customers their order is on its way as soon as stock covers it, without a
    # click (still once per customer; the alert's thread says so).
    auto_back_in_stock: bool = False


def _known_kind(kind: str, registry: Mapping[str, Any]) -> str:
    if kind not in registry:
        raise ValueError(f"unknown kind {kind!r}; expected one of: {', '.join(sorted(registry))}")
    return kind


_Named = TypeVar("_Named", "SupplierSection", "StoreSection")


def _named_once(sections: list[_Named], what: str) -> list[_Named]:
    seen: set[str] = set()
    for section in sections:
        if section.name in seen:
            raise ValueError(f"{what} name {section.name!r} is used twice")
        seen.add(section.name)
    return sections


class SupplierSection(BaseModel):
    """Common keys of a `[[suppliers]]` table; the rest belong to the adapter kind."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    kind: str
    poll_interval: Duration = timedelta(minutes=15)
    # The longest one poll may take, download and parsing included: a feed that
    # trickles a byte at a time would otherwise hold the supplier's polls forever.
    poll_timeout: Duration | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        return _known_kind(kind, REGISTRY)

    @field_validator("poll_timeout")
    @classmethod
    def _within_interval(cls, timeout: timedelta | None, info: ValidationInfo) -> timedelta | None:
        interval = info.data.get("poll_interval")
        if timeout is not None and interval is not None and timeout > interval:
            shown = duration_text(interval.total_seconds())
            raise ValueError(f"must not be longer than poll_interval ({shown})")
        return timeout

    def effective_poll_timeout(self) -> timedelta:
        """`poll_timeout`, else half the interval: at most 5 minutes for a feed, 30 for
        an API supplier (asked SKU by SKU at a set pace, so its polls take longer)."""
        if self.poll_timeout is not None:
            return self.poll_timeout
        cap = API_POLL_TIMEOUT if REGISTRY[self.kind].needs_skus else FEED_POLL_TIMEOUT
        return min(self.poll_interval / 2, cap)


class StoreSection(BaseModel):
    """Common keys of a `[[stores]]` table; the rest belong to the store kind."""

    model_config = ConfigDict(extra="allow", frozen=True)

    # Short: it is also the `source` of the orders read from this store.
    name: str = Field(min_length=1, max_length=20)
    kind: str
    poll_interval: Duration = timedelta(minutes=15)
    # Write what each order's customer was told and chose onto the order in the store.
    write_order_notes: StrictBool = False

    @field_validator("name")
    @classmethod
    def _not_the_csv_source(cls, name: str) -> str:
        # Imported orders have this source: a store of that name would take them over.
        if name == CSV_SOURCE:
            raise ValueError(f"{name!r} is the source of imported orders; pick another name")
        return name

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str, info: ValidationInfo) -> str:
        kind = _known_kind(kind, STORE_REGISTRY)
        # A kind's name is the source of its webhooks while it has no [[stores]] table.
        name = info.data.get("name")
        if name in STORE_REGISTRY and name != kind:
            raise ValueError(f"a {kind} store cannot be named {name!r}, the other store kind")
        return kind


class _AsWritten(BaseModel):
    """The sections the bot keeps as the file gives them: `FileConfig` reads them and
    `Settings` holds them (see `load_settings`)."""

    slack: SlackSection
    catalog: CatalogSection = CatalogSection()
    forecast: ForecastSection = ForecastSection()
    review: ReviewSection = ReviewSection()
    access: AccessSection | None = None
    auto_switch: AutoSwitchSection = AutoSwitchSection()
    web: WebSection = WebSection()
    notify: NotifySection = NotifySection()
    replicas: ReplicasSection = ReplicasSection()


class FileConfig(_AsWritten):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: RulesSection = RulesSection()
    paths: PathsSection = PathsSection()
    charts: ChartsSection = ChartsSection()
    email: EmailSection | None = None
    suppliers: list[SupplierSection] = Field(min_length=1)
    stores: list[StoreSection] = []
    database_url: str | None = None
    # SQLite: how long a write waits while another process writes (the running bot's
    # poll, another command) before it gives up with a plain message.
    sqlite_lock_wait: Duration = timedelta(seconds=30)

    @field_validator("suppliers")
    @classmethod
    def _unique_names(cls, suppliers: list[SupplierSection]) -> list[SupplierSection]:
        return _named_once(suppliers, "supplier")

    @field_validator("stores")
    @classmethod
    def _unique_store_names(cls, stores: list[StoreSection]) -> list[StoreSection]:
        return _named_once(stores, "store")


class Environment(BaseSettings):
    """Secrets and endpoints, read only from the environment."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    database_url: str | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    shopify_webhook_secret: SecretStr | None = None
    woocommerce_webhook_secret: SecretStr | None = None
    stockbot_link_secret: SecretStr | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value


class SupplierConfig(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    kind: str
    poll_interval: timedelta
    poll_timeout: timedelta = FEED_POLL_TIMEOUT
    options: AdapterOptions


class StoreConfig(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    kind: str
    poll_interval: timedelta
    options: StoreOptions
    write_order_notes: bool = False


class Settings(_AsWritten):
    """Everything the bot needs, validated."""

    model_config = ConfigDict(frozen=True)

    config_path: Path
    rules: RulesSection
    charts: ChartsSection = ChartsSection()
    email: EmailSection | None = None
    suppliers: list[SupplierConfig]
    stores: list[StoreConfig] = []
    database_url: str
    sqlite_lock_wait: timedelta = timedelta(seconds=30)
    slack_bot_token: SecretStr | None
    slack_signing_secret: SecretStr | None
    slack_app_token: SecretStr | None
    slack_api_url: str
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    shopify_webhook_secret: SecretStr | None = None
    woocommerce_webhook_secret: SecretStr | None = None
    # Signs customers' choice links; required when [web] public_url is set.
    link_secret: SecretStr | None = None

    @property
    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None

    def supplier(self, name: str) -> SupplierConfig:
        for supplier in self.suppliers:
            if supplier.name == name:
                return supplier
        known = ", ".join(s.name for s in self.suppliers)
        raise ConfigError([f"no supplier named {name!r} (configured: {known})"])


def _format_errors(error: ValidationError, prefix: str = "") -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        path = prefix
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling)"
        elif item["type"] == "missing":
            message = "required key is missing"
        problems.append(f"{path or '(top level)'}: {message}")
    return problems


def normalise_database_url(url: str) -> str:
    """Pick the async driver for plain URLs such as postgresql:// or sqlite:///."""
    for plain, async_scheme in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return async_scheme + url.removeprefix(plain)
    return url


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read and validate the config file and the environment (`os.environ`)."""
    env = os.environ
    config_path = Path(path).expanduser().resolve()
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"file not found: {config_path}"], str(config_path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(config_path)) from None

    try:
        file_config = FileConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc), str(config_path)) from None

    problems: list[str] = []
    feeds_dir = _feeds_dir(file_config.paths, config_path.parent, problems)
    charts = _charts_folder(file_config.charts, config_path.parent, problems)
    context = {"env": env, "base_dir": config_path.parent, "feeds_dir": feeds_dir}
    suppliers = [
        SupplierConfig(**common, options=options)
        for common, options in _kind_options(
            file_config.suppliers, REGISTRY, "suppliers", context, problems
        )
    ]
    stores = [
        StoreConfig(**common, options=options)
        for common, options in _kind_options(
            file_config.stores, STORE_REGISTRY, "stores", context, problems
        )
    ]

    try:
        environment = Environment()
    except ValidationError as exc:
        problems += _format_errors(exc, "environment")
    else:
        problems += _link_secret_problems(file_config.web, environment.stockbot_link_secret)
    if problems:
        raise ConfigError(problems, str(config_path))

    database_url = (
        environment.database_url
        or file_config.database_url
        or f"sqlite:///{config_path.parent / 'stockbot.db'}"
    )
    as_written = {name: getattr(file_config, name) for name in _AsWritten.model_fields}
    return Settings(
        **as_written,
        config_path=config_path,
        rules=file_config.rules,
        charts=charts,
        email=_resolve_templates_dir(file_config.email, config_path.parent),
        suppliers=suppliers,
        stores=stores,
        database_url=normalise_database_url(database_url),
        sqlite_lock_wait=file_config.sqlite_lock_wait,
        slack_bot_token=environment.slack_bot_token,
        slack_signing_secret=environment.slack_signing_secret,
        slack_app_token=environment.slack_app_token,
        slack_api_url=_with_trailing_slash(environment.slack_api_url or DEFAULT_SLACK_API_URL),
        smtp_username=environment.smtp_username,
        smtp_password=environment.smtp_password,
        shopify_webhook_secret=environment.shopify_webhook_secret,
        woocommerce_webhook_secret=environment.woocommerce_webhook_secret,
        link_secret=environment.stockbot_link_secret,
    )


# Shorter than this, a link secret could be guessed from the links customers hold.
MIN_LINK_SECRET = 32


def _link_secret_problems(web: WebSection, secret: SecretStr | None) -> list[str]:
    if web.public_url is None:
        return []
    if secret is None:
        return [
            "web.public_url is set, so the STOCKBOT_LINK_SECRET environment variable must be "
            "set too (it signs customers' choice links): e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        ]
    if len(secret.get_secret_value().strip()) < MIN_LINK_SECRET:
        return [f"environment.STOCKBOT_LINK_SECRET: must be at least {MIN_LINK_SECRET} characters"]
    return []


def _feeds_dir(paths: PathsSection, base_dir: Path, problems: list[str]) -> Path:
    folder = base_dir if paths.feeds_dir is None else base_dir / paths.feeds_dir.expanduser()
    if not folder.is_dir():
        problems.append(f"paths.feeds_dir: {folder} is not a folder")
    return folder


def _charts_folder(charts: ChartsSection, base_dir: Path, problems: list[str]) -> ChartsSection:
    folder = base_dir / charts.folder.expanduser()
    if folder.exists() and not folder.is_dir():
        problems.append(f"charts.folder: {folder} is not a folder")
    return charts.model_copy(update={"folder": folder})


def _with_trailing_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _resolve_templates_dir(email: EmailSection | None, base_dir: Path) -> EmailSection | None:
    if email is None or email.templates_dir is None or email.templates_dir.is_absolute():
        return email
    return email.model_copy(update={"templates_dir": base_dir / email.templates_dir})


def _kind_options(
    sections: Sequence[SupplierSection | StoreSection],
    registry: Mapping[str, Any],
    key: str,
    context: dict[str, Any],
    problems: list[str],
) -> list[tuple[dict[str, Any], Any]]:
    """Validate each table's kind-specific keys with that kind's own Options model;
    problems are reported under the table's path, e.g. `suppliers[0].url`."""
    validated = []
    for index, section in enumerate(sections):
        try:
            options = registry[section.kind].Options.model_validate(
                section.model_extra or {}, context=context
            )
        except ValidationError as exc:
            problems += _format_errors(exc, f"{key}[{index}]")
            continue
        common: dict[str, Any] = {
            "name": section.name,
            "kind": section.kind,
            "poll_interval": section.poll_interval,
        }
        if isinstance(section, SupplierSection):
            common["poll_timeout"] = section.effective_poll_timeout()
        else:
            common["write_order_notes"] = section.write_order_notes
        validated.append((common, options))
    return validated
