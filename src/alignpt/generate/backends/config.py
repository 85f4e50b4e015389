"""The one config every generation backend reads; its ``kind`` picks the backend.

API keys are read from the environment variable named by ``api_key_env`` and nowhere
else: the config holds the variable's *name*, so the resolved config, logs, cache and
outputs never contain the key.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from alignpt.core.config import StrictModel
from alignpt.core.errors import ConfigError
from alignpt.generate.backends.base import Api

__all__ = ["BackendConfig"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class BackendConfig(StrictModel):
    """One config for every backend; fields name the backends they apply to."""

    kind: Literal["template", "openai", "hf"] = "template"
    #: openai: the served model name; hf: a local model folder; template: a label
    model: str | None = None
    api: Api = "chat"
    #: sampling parameters sent with every request (and part of every cache key)
    params: dict[str, Any] = {"temperature": 0.7, "top_p": 0.95}
    #: send a per-document ``seed`` (servers that honour it make reruns reproducible)
    send_seed: bool = True
    # -- openai ------------------------------------------------------------
    base_url: str = "https://api.openai.com/v1"
    #: name of the environment variable holding the key; null sends no key (local servers)
    api_key_env: str | None = "OPENAI_API_KEY"
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    concurrency: int = 16
    timeout_s: float = Field(300.0, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    max_attempts: int = 8
    backoff_base_s: float = Field(1.0, ge=0)
    backoff_cap_s: float = Field(60.0, ge=0)
    max_retry_after_s: float = Field(300.0, ge=0)
    #: stop the run after this many requests have failed for good
    max_failures: int = Field(20, ge=0)
    transport: Literal["auto", "aiohttp", "httpx"] = "auto"
    #: honour HTTP(S)_PROXY from the environment (auto: not for loopback servers)
    trust_env: bool | None = None
    price_input_per_mtok: float = Field(0.0, ge=0)
    price_output_per_mtok: float = Field(0.0, ge=0)
    # -- hf ------------------------------------------------------------------
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int = 8

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # ConfigError (not ValueError) so that pydantic does not wrap it with the input
        # value: if a user pasted the key itself here, echoing it would put the secret in
        # a terminal, a log or a CI transcript.
        if value is not None and not _ENV_NAME.match(value):
            raise ConfigError("backend.api_key_env: must be the NAME of an environment "
                              "variable holding the key (e.g. OPENAI_API_KEY), not the key")
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8000/v1")
        if parts.username or parts.password:
            raise ConfigError("backend.base_url: must not contain credentials; put the key "
                              "in an environment variable named by backend.api_key_env")
        return value.rstrip("/")

    @field_validator("concurrency", "max_attempts", "batch_size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be >= 1")
        return value

    def model_name(self) -> str:
        if self.kind == "template":
            return self.model or "template-v1"
        if not self.model:
            raise ConfigError(f"backend.model: required for the {self.kind} backend "
                              "(--model NAME)")
        return self.model
