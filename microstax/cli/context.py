"""What every command receives: resolved global options, output streams and the API client."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from microstax.cli.client import GraphQLClient

DEFAULT_API_URL = "http://127.0.0.1:8000"
OUTPUT_FORMATS = ("table", "json", "yaml")


class CLIError(Exception):
    """A failure to report as ``error: <message>`` with an exit status (1 unless told)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Context:
    """Global options after defaults and environment variables were applied."""

    api_url: str = DEFAULT_API_URL
    api_key: str | None = None
    output: str = "table"
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    _client: GraphQLClient | None = None

    @classmethod
    def from_options(cls, options: Any, environ: dict[str, str] | None = None) -> Context:
        """``--api-url`` over ``MICROSTAX_API_URL`` over the default; the same for the key."""
        env = os.environ if environ is None else environ
        api_url = getattr(options, "api_url", None) or env.get("MICROSTAX_API_URL") or DEFAULT_API_URL
        api_key = getattr(options, "api_key", None) or env.get("MICROSTAX_API_KEY") or None
        output = getattr(options, "output", None) or "table"
        return cls(api_url=api_url, api_key=api_key, output=output)

    def client(self) -> GraphQLClient:
        if self._client is None:
            self._client = GraphQLClient(self.api_url, self.api_key)
        return self._client

    def out(self, text: str) -> None:
        self.stdout.write(text if text.endswith("\n") else text + "\n")

    def err(self, text: str) -> None:
        self.stderr.write(text if text.endswith("\n") else text + "\n")
