"""Templates: rendering, chat use, content hashes, bad input and LaTeX brace safety."""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import resources

import pytest
from pydantic import ValidationError

from openmath_kedro.prompts import (
    CODE_END,
    CODE_START,
    OUTPUT_END,
    OUTPUT_START,
    PromptError,
    PromptTemplate,
    available_example_sets,
    available_prompts,
    format_code_output,
    load_example_set,
    load_prompt,
)
from openmath_kedro.prompts import examples as examples_module

TEMPLATES = [
    "code_fewshot",
    "code_masked_reference_solution",
    "code_reference_solution",
    "mask_solution",
    "zero_shot",
]
BRACES = r"Let $f(x) = \frac{1}{2}x^{2}$ and $S = \{1, 2\}$; find {0}, {}, {{problem}}, {{ examples }}, %s and $\$5$."
FIELDS = {"reference_solution": "REFERENCE-TEXT", "masked_solution": "MASKED-TEXT"}


def rebuilt(model, **changes):
    """A copy built and validated again (``model_copy(update=...)`` does not validate)."""
    return type(model)(**(dict(model) | changes))


def render(name: str, examples: str | None = None, **overrides: str) -> str:
    return load_prompt(name, examples=examples).render(problem="TARGET-PROBLEM", **(FIELDS | overrides))


def test_solution_format_constants():
    assert (CODE_START, CODE_END, OUTPUT_START, OUTPUT_END) == (
        "<llm-code>",
        "</llm-code>",
        "<llm-code-output>",
        "</llm-code-output>",
    )
    assert format_code_output("4\n\n") == "\n<llm-code-output>\n4\n</llm-code-output>\n"
    assert format_code_output("a\n b") == "\n<llm-code-output>\na\n b\n</llm-code-output>\n"


def test_available_prompts():
    assert available_prompts() == TEMPLATES


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("examples", [None, "gsm8k", "math_precalculus"])
def test_render_structure(name, examples):
    if name == "zero_shot" and examples:
        pytest.raises(PromptError, load_prompt, name, examples=examples)
        return
    template = load_prompt(name, examples=examples)
    text = render(name, examples)
    shown = template.examples
    assert text.startswith(template.system) and template.system
    # the target comes once, after every example, and the text ends where the model's answer begins
    assert text.count("TARGET-PROBLEM") == 1
    assert text.endswith(template.generation_prefix) and template.generation_prefix.endswith(":\n")
    assert text.count("Question:\n") == len(shown) + 1
    positions = [text.index(example.problem) for example in shown] + [text.index("TARGET-PROBLEM")]
    assert positions == sorted(positions)
    for example in shown:
        if name == "mask_solution":
            assert example.reference_solution in text and example.masked_reference_solution in text
            assert example.solution not in text
        else:
            assert example.solution in text
        if name == "code_reference_solution":
            assert example.reference_solution in text
        if name == "code_masked_reference_solution":
            assert example.masked_reference_solution in text and example.reference_solution not in text
    uses = {"reference_solution": "REFERENCE-TEXT" in text, "masked_solution": "MASKED-TEXT" in text}
    assert uses == {field: field in template.fields for field in uses}
    if template.fields[1:]:  # the target's reference comes right after the problem
        assert text.index("TARGET-PROBLEM") < text.index(FIELDS[template.fields[1]])


def test_default_example_sets():
    assert load_prompt("code_fewshot").examples_name == "math_general"
    assert load_prompt("code_fewshot", examples="gsm8k").examples == load_example_set("gsm8k").examples
    assert load_prompt("zero_shot").examples == ()


def test_zero_shot_is_the_problem_and_the_format():
    text = load_prompt("zero_shot").render(problem="What is $1+1$?")
    assert text.endswith("Question:\nWhat is $1+1$?\n\nMy solution:\n")
    assert CODE_START in text and "\\boxed{}" in text


@pytest.mark.parametrize("name", TEMPLATES)
def test_chat_rendering(name):
    seen = []

    def chat_template(messages):
        seen.append(messages)
        return "<chat>" + "|".join(f"{m['role']}:{m['content']}" for m in messages) + "<assistant>"

    template = load_prompt(name)
    text = template.render(problem="TARGET-PROBLEM", chat_template=chat_template, **FIELDS)
    (messages,) = seen
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == template.system
    assert messages[1]["content"].endswith("TARGET-PROBLEM" if len(template.fields) == 1 else "-TEXT")
    assert text.startswith("<chat>") and text.endswith("<assistant>")
    # the plain text is the same content plus the generation prefix
    plain = template.render(problem="TARGET-PROBLEM", **FIELDS)
    assert plain == f"{messages[0]['content']}\n\n{messages[1]['content']}{template.generation_prefix}"


def test_chat_without_system_part():
    template = load_prompt("zero_shot").model_copy(update={"system": ""})
    messages = template.render(problem="p", chat_template=lambda msgs: msgs)
    assert messages == [{"role": "user", "content": "Question:\np"}]


@pytest.mark.parametrize("name", TEMPLATES)
def test_braces_are_safe(name):
    # LaTeX braces, format fields and our own markers inside the problem come out verbatim, once
    text = load_prompt(name).render(problem=BRACES, reference_solution=BRACES, masked_solution=BRACES)
    assert text.count(BRACES) == len(load_prompt(name).fields)
    assert "{{examples}}" not in text.replace(BRACES, "")


def test_hash_is_stable_and_pinned():
    tiny = PromptTemplate(name="tiny", version=1, user="Q: {{problem}}", generation_prefix="\nA:")
    # the documented recipe (README): sha256 of sorted-key JSON of the rendered parts, first 16 hex digits
    canonical = json.dumps(
        {
            "render_scheme": 1,
            "system": "",
            "user": "Q: {{problem}}",
            "generation_prefix": "\nA:",
            "examples": "",
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    assert tiny.content_hash == hashlib.sha256(canonical.encode()).hexdigest()[:16] == "f6cd182425cc1f96"
    assert len(load_prompt("code_fewshot").content_hash) == 16
    load_prompt.cache_clear()
    load_example_set.cache_clear()
    assert {n: load_prompt(n).content_hash for n in TEMPLATES} == {
        n: load_prompt(n).content_hash for n in TEMPLATES
    }
    again = rebuilt(load_prompt("code_fewshot"))
    assert (
        again == load_prompt("code_fewshot")
        and again.content_hash == load_prompt("code_fewshot").content_hash
    )
    assert hash(again) == hash(load_prompt("code_fewshot"))  # frozen: usable as a cache key


def test_name_and_version_are_not_hashed():
    base = load_prompt("code_fewshot")
    assert base.model_copy(update={"name": "other", "version": 9}).content_hash == base.content_hash


@pytest.mark.parametrize(
    "change",
    [
        {"system": "Different instructions."},
        {"user": "{{examples}}\n\nProblem:\n{{problem}}"},
        {"generation_prefix": "\n\nSolution:\n"},
        {"example": "Q: {{problem}}\nA: {{solution}}"},
        {"example_separator": "\n\n"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_template_text_change_changes_the_hash(change):
    base = load_prompt("code_fewshot")
    # derived from the fields on every read, so a copy never keeps the old hash
    assert base.model_copy(update=change).content_hash != base.content_hash
    assert rebuilt(base, **change).content_hash != base.content_hash


def test_any_example_change_changes_the_hash():
    base = load_prompt("code_reference_solution")
    first, *rest = base.examples
    for field in ("problem", "solution", "reference_solution"):
        edited = rebuilt(first, **{field: getattr(first, field) + " (edited)"})
        assert rebuilt(base, examples=(edited, *rest)).content_hash != base.content_hash
    assert rebuilt(base, examples=tuple(rest)).content_hash != base.content_hash
    assert rebuilt(base, examples=(*rest, first)).content_hash != base.content_hash
    other_set = load_prompt("code_reference_solution", examples="gsm8k")
    assert other_set.content_hash != base.content_hash
    # the answer field is never shown, so it does not change the rendered text or the hash
    edited = rebuilt(first, answer="something else")
    assert rebuilt(base, examples=(edited, *rest)).content_hash == base.content_hash


def test_unknown_template_lists_the_available_ones():
    with pytest.raises(PromptError, match="unknown template 'nope'") as error:
        load_prompt("nope")
    assert all(name in str(error.value) for name in TEMPLATES)


def test_unknown_example_set_lists_the_available_ones():
    with pytest.raises(PromptError, match="unknown example 'nope'") as error:
        load_prompt("code_fewshot", examples="nope")
    assert all(name in str(error.value) for name in available_example_sets())


def test_missing_field_names_the_field_and_the_template():
    with pytest.raises(PromptError, match="'code_reference_solution' needs 'reference_solution'"):
        load_prompt("code_reference_solution").render(problem="p")
    with pytest.raises(PromptError, match="'code_masked_reference_solution' needs 'masked_solution'"):
        load_prompt("code_masked_reference_solution").render(problem="p", reference_solution="r")


def only_error(error: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple[str | int, ...], str]:
    (item,) = error.value.errors()
    return item["loc"], item["msg"]


def test_unknown_placeholder_fails_when_built():
    with pytest.raises(ValidationError) as error:
        PromptTemplate(name="bad", version=1, user="{{question}}")
    assert only_error(error) == (
        ("user",),
        "Value error, unknown placeholder(s) ['question']; allowed: problem, reference_solution, masked_solution, "
        "examples",
    )
    with pytest.raises(ValidationError) as error:
        rebuilt(load_prompt("code_fewshot"), example="{{problem}} {{hint}}")
    assert only_error(error)[0] == ("example",) and "['hint']" in only_error(error)[1]


@pytest.mark.parametrize(
    ("fields", "location"),
    [({"version": "1"}, ("version",)), ({"version": 0}, ("version",)), ({"colour": "red"}, ("colour",)),
     ({"user": None}, ("user",)), ({"examples": ({"problem": "p", "solution": "s"},)}, ("examples", 0, "answer")),
     ({"examples": ({"problem": " ", "solution": "s", "answer": "1"},)}, ("examples", 0, "problem"))],
)  # fmt: skip
def test_fields_are_typed_and_closed(fields, location):
    with pytest.raises(ValidationError) as error:
        PromptTemplate(
            **({"name": "t", "version": 1, "user": "{{examples}}", "example": "{{problem}}"} | fields)
        )
    assert only_error(error)[0] == location


def test_examples_missing_a_field_the_template_shows():
    base = load_prompt("code_reference_solution")
    stripped = tuple(example.model_copy(update={"reference_solution": None}) for example in base.examples)
    with pytest.raises(
        ValidationError, match="example 0 of the set 'math_general' needs 'reference_solution'"
    ):
        rebuilt(base, examples=stripped)
    with pytest.raises(ValidationError, match="no example template or no examples"):
        rebuilt(base, examples=())


@pytest.fixture
def prompt_files(tmp_path, monkeypatch):
    """A writable copy of the shipped YAML files, used by load_prompt instead of the package's."""
    package = resources.files("openmath_kedro.prompts")
    for kind in ("templates", "examples"):
        shutil.copytree(str(package.joinpath(kind)), tmp_path / kind)
    monkeypatch.setattr(examples_module, "_package_dir", lambda kind: tmp_path / kind)
    load_prompt.cache_clear()
    load_example_set.cache_clear()
    yield tmp_path
    load_prompt.cache_clear()
    load_example_set.cache_clear()


def test_load_time_errors_from_yaml(prompt_files):
    template = prompt_files / "templates" / "code_fewshot.yml"
    template.write_text(template.read_text().replace("{{problem}}\ngeneration", "{{problme}}\ngeneration"))
    with pytest.raises(
        PromptError, match=r"^templates/code_fewshot.yml: user: unknown placeholder\(s\) \['problme'\]"
    ):
        load_prompt("code_fewshot")
    (prompt_files / "templates" / "extra.yml").write_text(
        "name: extra\nversion: one\nuser: hi\ncolour: red\n"
    )
    with pytest.raises(PromptError) as error:
        load_prompt("extra")
    assert str(error.value) == (
        "templates/extra.yml: version: Input should be a valid integer; colour: Extra inputs are not permitted"
    )
    (prompt_files / "examples" / "empty.yml").write_text("name: empty\nversion: 1\nexamples: []\n")
    with pytest.raises(
        PromptError, match=r"^examples/empty.yml: examples: Tuple should have at least 1 item"
    ):
        load_example_set("empty")
    (prompt_files / "examples" / "noanswer.yml").write_text(
        "name: noanswer\nversion: 1\nexamples:\n  - {problem: p, solution: s}\n  - {problem: p, solution: s, answer: ''}\n"
    )
    with pytest.raises(PromptError) as error:
        load_example_set("noanswer")
    assert str(error.value) == (
        "examples/noanswer.yml: examples[0].answer: Field required; "
        "examples[1].answer: String should have at least 1 character"
    )
    (prompt_files / "examples" / "broken.yml").write_text("name: broken\nexamples: [\n")
    with pytest.raises(PromptError, match="^examples/broken.yml: not valid YAML"):
        load_example_set("broken")
    template = prompt_files / "templates" / "code_reference_solution.yml"
    template.write_text(
        template.read_text().replace("default_examples: math_general", "default_examples: bare")
    )
    (prompt_files / "examples" / "bare.yml").write_text(
        "name: bare\nversion: 1\nexamples:\n  - {problem: p, solution: s, answer: '1'}\n"
    )
    with pytest.raises(PromptError) as error:
        load_prompt("code_reference_solution")
    assert str(error.value) == (
        "templates/code_reference_solution.yml: example 0 of the set 'bare' needs 'reference_solution', "
        "but none was given"
    )


def test_editing_a_yaml_file_changes_the_hash(prompt_files):
    before = load_prompt("code_fewshot", examples="gsm8k").content_hash
    path = prompt_files / "examples" / "gsm8k.yml"
    path.write_text(path.read_text().replace("Priya", "Priyanka"))
    load_prompt.cache_clear()
    load_example_set.cache_clear()
    assert load_prompt("code_fewshot", examples="gsm8k").content_hash != before
