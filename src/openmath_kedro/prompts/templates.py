"""Versioned prompt templates (YAML under templates/) rendered with ``{{field}}`` markers."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import PromptError
from .examples import EXAMPLE_FIELDS, FewShotExample, Text, load_example_set, read_yaml, yaml_names

TEMPLATES_DIR = "templates"

# Bump when render() changes how the parts are put together, so old hashes stop matching new text.
RENDER_SCHEME = 1

ChatTemplate = Callable[[list[dict[str, str]]], str]

# Only `{{identifier}}` is a marker: single braces (LaTeX) are ordinary text, and values are inserted in one
# pass, so a problem that itself contains `{{problem}}` or `\frac{1}{2}` is never re-expanded.
_MARKER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

PROMPT_FIELDS = ("problem", "reference_solution", "masked_solution", "examples")


def markers(text: str) -> list[str]:
    """The field names a template text refers to, in order of first use."""
    return list(dict.fromkeys(_MARKER.findall(text)))


def substitute(text: str, values: dict[str, str | None], *, where: str) -> str:
    """Replace every marker in ``text``; a PromptError naming the field when a value is missing."""

    def replace(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            raise PromptError(f"{where} needs {match.group(1)!r}, but none was given")
        return value

    return _MARKER.sub(replace, text)


class _TemplateText(BaseModel):
    """The texts of a template; every marker must name a field the text can be given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: int = Field(ge=1, strict=True)
    user: str
    system: str = ""
    description: Text = ""
    example: str = ""
    example_separator: str = "\n\n"
    generation_prefix: str = ""

    @field_validator("system", "user", "generation_prefix", "example")
    @classmethod
    def _known_markers(cls, text: str, info: ValidationInfo) -> str:
        allowed = EXAMPLE_FIELDS if info.field_name == "example" else PROMPT_FIELDS
        if unknown := set(markers(text)) - set(allowed):
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {', '.join(allowed)}")
        return text


class TemplateFile(_TemplateText):
    """A template exactly as its YAML file has it."""

    default_examples: str | None = None


class PromptTemplate(_TemplateText):
    """A prompt with its few-shot examples bound; ``content_hash`` identifies the rendered text it makes.

    Plain render: ``system`` + blank line + ``user`` + ``generation_prefix``. Chat render: messages
    ``[system?, user]`` through the caller's chat template (the assistant turn is the solution, so the
    generation prefix is not added). Built directly it raises pydantic's ValidationError; ``load_prompt``
    turns that into a PromptError naming the file.
    """

    examples_name: str | None = None
    examples: tuple[FewShotExample, ...] = ()

    @model_validator(mode="after")
    def _examples_fit(self) -> PromptTemplate:
        uses_examples = "examples" in markers(self.system + self.user)
        if uses_examples and (not self.example or not self.examples):
            raise ValueError("shows few-shot examples but has no example template or no examples")
        if not uses_examples and self.examples:
            raise ValueError(f"takes no few-shot examples, but the set {self.examples_name!r} was given")
        _ = self.examples_text  # every example has the fields the example template shows
        return self

    # Derived values are properties, not stored fields, so a copy (``model_copy(update=...)``) never carries
    # a stale hash; they are cached by their inputs because render() and every generated row read them.
    @property
    def examples_text(self) -> str:
        """All examples rendered and joined: what ``{{examples}}`` becomes."""
        return _examples_text(self.example, self.example_separator, self.examples, self.examples_name)

    @property
    def content_hash(self) -> str:
        # Exactly what reaches the rendered text: the parts and the examples as they render.
        # Name, version and the example set's name are recorded separately and are not hashed.
        return _content_hash(self.system, self.user, self.generation_prefix, self.examples_text)

    @property
    def fields(self) -> list[str]:
        """The render() arguments this template uses (besides the bound examples)."""
        return [f for f in markers(self.system + self.user + self.generation_prefix) if f != "examples"]

    def render(
        self,
        *,
        problem: str,
        reference_solution: str | None = None,
        masked_solution: str | None = None,
        chat_template: ChatTemplate | None = None,
    ) -> str:
        """The prompt for one problem: plain text, or messages passed through ``chat_template``."""
        values = {
            "problem": problem,
            "reference_solution": reference_solution,
            "masked_solution": masked_solution,
            "examples": self.examples_text,
        }
        where = f"prompt {self.name!r}"
        system = substitute(self.system, values, where=where)
        user = substitute(self.user, values, where=where)
        prefix = substitute(self.generation_prefix, values, where=where)
        if chat_template is not None:
            messages = [{"role": "system", "content": system}] if system else []
            messages.append({"role": "user", "content": user})
            return chat_template(messages)
        return (f"{system}\n\n" if system else "") + user + prefix


@functools.lru_cache(maxsize=64)
def _examples_text(
    example: str, separator: str, examples: tuple[FewShotExample, ...], examples_name: str | None
) -> str:
    return separator.join(
        substitute(example, item.model_dump(), where=f"example {index} of the set {examples_name!r}")
        for index, item in enumerate(examples)
    )


@functools.lru_cache(maxsize=64)
def _content_hash(system: str, user: str, generation_prefix: str, examples_text: str) -> str:
    canonical = json.dumps(
        {
            "render_scheme": RENDER_SCHEME,
            "system": system,
            "user": user,
            "generation_prefix": generation_prefix,
            "examples": examples_text,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def available_prompts() -> list[str]:
    """Names of the shipped templates (file names under templates/ without .yml)."""
    return yaml_names(TEMPLATES_DIR)


@functools.cache
def load_prompt(name: str, *, examples: str | None = None) -> PromptTemplate:
    """The template ``name`` with the example set ``examples`` (default: the template's own default)."""
    data = read_yaml(TEMPLATES_DIR, name, available=available_prompts())
    where = f"{TEMPLATES_DIR}/{name}.yml"
    try:
        spec = TemplateFile.model_validate(data)
    except ValidationError as error:
        raise PromptError.invalid(where, error) from None
    if examples is not None and not spec.example:
        raise PromptError(f"prompt {name!r} takes no few-shot examples, but examples={examples!r} was given")
    set_name = examples or spec.default_examples
    bound = load_example_set(set_name).examples if set_name else ()
    try:
        return PromptTemplate(
            **spec.model_dump(exclude={"default_examples"}), examples_name=set_name, examples=bound
        )
    except ValidationError as error:
        raise PromptError.invalid(where, error) from None
