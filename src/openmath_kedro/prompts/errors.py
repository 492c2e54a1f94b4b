"""The one exception of the prompts package."""

from __future__ import annotations


class PromptError(ValueError):
    """A prompt or example set that does not exist, is malformed, or lacks a field it needs."""
