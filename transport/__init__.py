"""Outbound HTTP shared by the supplier and store adapters.

One retry loop (`with_retries`, on tenacity), pacing and holds (`ApiClient`),
Retry-After and rate-limit headers, redirects that keep credentials on their
own site (`send_following`), streaming GETs and bounded bodies, the
classification of HTTP answers, and the errors all of them raise. This package
knows no supplier, store, database or Slack.
"""

from transport.adapter import ServiceAdapter
from transport.body import (
    GZIP_MAGIC,
    HTML_TYPES,
    SNIFF_BYTES,
    chained,
    cut_off_message,
    gunzip,
    looks_like_html,
    prefetch,
    read_json,
)
from transport.client import ApiClient
from transport.credentials import EnvVarName, credential_problem, env_var_is_set
from transport.errors import (
    NotFound,
    Retry,
    ServiceError,
    ServicePaused,
    ServiceUnavailable,
    ServiceUnusable,
    TokenRejected,
)
from transport.policy import CHUNK_SIZE, CallLimits, FetchPolicy
from transport.redirects import send_following
from transport.registry import KindRegistry
from transport.retrying import with_retries
from transport.status import (
    RETRY_STATUSES,
    answer_error,
    failed_answer,
    rate_limit_wait,
    retry_after_seconds,
    transient,
)
from transport.stream import body_chunks, open_stream
from transport.urls import display_source, http_url, is_http_url
from transport.wording import Speaker, duration_text, refused_access, status_text

__all__ = [
    "CHUNK_SIZE",
    "GZIP_MAGIC",
    "HTML_TYPES",
    "RETRY_STATUSES",
    "SNIFF_BYTES",
    "ApiClient",
    "CallLimits",
    "EnvVarName",
    "FetchPolicy",
    "KindRegistry",
    "NotFound",
    "Retry",
    "ServiceAdapter",
    "ServiceError",
    "ServicePaused",
    "ServiceUnavailable",
    "ServiceUnusable",
    "Speaker",
    "TokenRejected",
    "answer_error",
    "body_chunks",
    "chained",
    "credential_problem",
    "cut_off_message",
    "display_source",
    "duration_text",
    "env_var_is_set",
    "failed_answer",
    "gunzip",
    "http_url",
    "is_http_url",
    "looks_like_html",
    "open_stream",
    "prefetch",
    "rate_limit_wait",
    "read_json",
    "refused_access",
    "retry_after_seconds",
    "send_following",
    "status_text",
    "transient",
    "with_retries",
]
