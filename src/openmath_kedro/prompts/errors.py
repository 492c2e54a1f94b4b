"""The one exception of the prompts package."""

from __future__ import annotations

from pydantic import ValidationError


class PromptError(ValueError):
    """A prompt or example set that does not exist, is malformed, or lacks a field it needs."""

    @classmethod
    def invalid(cls, where: str, error: ValidationError) -> PromptError:
        """Every problem pydantic found, in one line: ``where: examples[0].answer: Field required; ...``."""
        items = error.errors()
        locations = [item["loc"] for item in items]
        problems = []
        for item in items:
            # a list that is too short only because its items failed says nothing new
            if any(other[: len(item["loc"])] == item["loc"] != other for other in locations):
                continue
            location = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{location.removeprefix('.')}: {message}" if location else message)
        return cls(f"{where}: {'; '.join(problems)}")
