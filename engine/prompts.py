"""Prompt preparation before the text encoder: translation to English and optional LLM beautification."""

from __future__ import annotations

from typing import Any

from .api import ImageRequest
from .settings import EngineSettings


def prepare(models: Any, settings: EngineSettings, request: ImageRequest, seed: int) -> str:
    """The prompt the text encoder sees (before the style template)."""
    return " ".join(request.prompt.split())
