"""Versioned prompt templates (YAML under templates/) rendered with ``{{field}}`` markers."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import PromptError
from .examples import EXAMPLE_FIELDS, FewShotExample, load_example_set, read_yaml, yaml_names

TEMPLATES_DIR = "templates"

# Bump when render() changes how the parts are put together, so old hashes stop matching new text.
RENDER_SCHEME = 1

ChatTemplate = Callable[[list[dict[str, str]]], str]

# Only `{{identifier}}` is a marker: single braces (LaTeX) are ordinary text, and values are inserted in one
# pass, so a problem that itself contains `{{problem}}` or `\frac{1}{2}` is never re-expanded.
_MARKER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

PROMPT_FIELDS = ("problem", "reference_solution", "masked_solution", "examples")
_TEMPLATE_KEYS = {
    "name",
    "version",
    "description",
    "system",
    "user",
    "example",
    "example_separator",
    "generation_prefix",
    "default_examples",
}


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


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt with its few-shot examples bound; ``content_hash`` identifies the rendered text it makes.

    Plain render: ``system`` + blank line + ``user`` + ``generation_prefix``. Chat render: messages
    ``[system?, user]`` through the caller's chat template (the assistant turn is the solution, so the
    generation prefix is not added).
    """

    name: str
    version: int
    user: str
    system: str = ""
    description: str = ""
    example: str = ""
    example_separator: str = "\n\n"
    generation_prefix: str = ""
    examples_name: str | None = None
    examples: tuple[FewShotExample, ...] = ()
    content_hash: str = field(init=False)
    examples_text: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = f"prompt {self.name!r}"
        for part_name in ("system", "user", "generation_prefix"):
            if unknown := set(markers(getattr(self, part_name))) - set(PROMPT_FIELDS):
                raise PromptError(
                    f"{where}: unknown placeholder(s) {sorted(unknown)} in {part_name!r}; "
                    f"allowed: {', '.join(PROMPT_FIELDS)}"
                )
        if unknown := set(markers(self.example)) - set(EXAMPLE_FIELDS):
            raise PromptError(
                f"{where}: unknown placeholder(s) {sorted(unknown)} in 'example'; allowed: {', '.join(EXAMPLE_FIELDS)}"
            )
        uses_examples = "examples" in markers(self.system + self.user)
        if uses_examples and (not self.example or not self.examples):
            raise PromptError(f"{where} shows few-shot examples but has no example template or no examples")
        if not uses_examples and self.examples:
            raise PromptError(
                f"{where} takes no few-shot examples, but the set {self.examples_name!r} was given"
            )
        examples_text = self.example_separator.join(
            substitute(
                self.example, dataclasses.asdict(ex), where=f"{where} with example set {self.examples_name!r}"
            )
            for ex in self.examples
        )
        object.__setattr__(self, "examples_text", examples_text)
        object.__setattr__(self, "content_hash", self._hash())

    def _hash(self) -> str:
        # Exactly what reaches the rendered text: the parts and the examples as they render.
        # Name, version and the example set's name are recorded separately and are not hashed.
        canonical = json.dumps(
            {
                "render_scheme": RENDER_SCHEME,
                "system": self.system,
                "user": self.user,
                "generation_prefix": self.generation_prefix,
                "examples": self.examples_text,
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

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


def available_prompts() -> list[str]:
    """Names of the shipped templates (file names under templates/ without .yml)."""
    return yaml_names(TEMPLATES_DIR)


@functools.cache
def load_prompt(name: str, *, examples: str | None = None) -> PromptTemplate:
    """The template ``name`` with the example set ``examples`` (default: the template's own default)."""
    data = read_yaml(TEMPLATES_DIR, name, available=available_prompts())
    where = f"templates/{name}.yml"
    if unknown := set(data) - _TEMPLATE_KEYS:
        raise PromptError(f"{where}: unknown keys {sorted(unknown)}")
    if not isinstance(data.get("version"), int):
        raise PromptError(f"{where}: 'version' must be an integer")
    if not isinstance(data.get("user"), str):
        raise PromptError(f"{where}: 'user' text is required")
    for key in ("system", "example", "example_separator", "generation_prefix"):
        if key in data and not isinstance(data[key], str):
            raise PromptError(f"{where}: {key!r} must be a string")
    set_name = examples or data.get("default_examples")
    if examples is not None and not data.get("example"):
        raise PromptError(f"prompt {name!r} takes no few-shot examples, but examples={examples!r} was given")
    bound = load_example_set(set_name).examples if set_name else ()
    return PromptTemplate(
        name=name,
        version=data["version"],
        description=str(data.get("description", "")).strip(),
        system=data.get("system", ""),
        user=data["user"],
        example=data.get("example", ""),
        example_separator=data.get("example_separator", "\n\n"),
        generation_prefix=data.get("generation_prefix", ""),
        examples_name=set_name,
        examples=bound,
    )
