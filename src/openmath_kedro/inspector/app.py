"""The Dash app of ``kedro inspect``: the Analyze and Inference pages.

Both pages are in the layout at all times (the URL shows one), so every callback's components exist and the
browser console stays clean. Callbacks never raise: a failure (a dataset that is not generations-shaped, a
statistic that raises or runs too long, a model that cannot start) becomes a message in the page, and the server
keeps serving. Tables are paged on the server (tables.py): the browser gets 25 problems at a time.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections import OrderedDict
from pathlib import Path
from typing import Any

import dash
import dash_ag_grid as dag
import polars as pl
from dash import Input, Output, State, ctx, dcc, html, no_update

from openmath_kedro.code_interpreter import InterpreterSettings
from openmath_kedro.engines.base import SamplingParams
from openmath_kedro.prompts import available_example_sets, available_prompts

from . import custom_stats
from .inference import InferenceRequest, JobBoard
from .project import InspectorProject
from .render import math_markdown, problem_view, solution_view
from .tables import SORTABLE, Filters, NotGenerationsShaped, TableView, page, rows_as_records

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
PRESET_LABELS = [
    "wrong reasoning, right answer",
    "right reasoning, wrong answer",
    "grader is wrong",
    "answer extraction is wrong",
    "bad code",
    "sandbox error",
    "interesting",
]
FILTER_IDS = {
    "benchmarks": "f-benchmark",
    "models": "f-model",
    "outcomes": "f-outcome",
    "finish_reasons": "f-finish",
    "code_errors": "f-code-errors",
    "subjects": "f-subject",
    "levels": "f-level",
    "problem_search": "f-problem-search",
    "solution_search": "f-solution-search",
    "steps": "f-step",
    "reason_search": "f-reason-search",
    "labels": "f-label",
}
CUSTOM_MODEL = "__custom__"

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2933; background: #f6f7f9; }
header { background: #1f3a5f; color: white; padding: 10px 20px; display: flex; align-items: center; gap: 24px; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; }
header a { color: #cfe0ff; text-decoration: none; font-weight: 500; padding: 4px 10px; border-radius: 4px; }
header a.active { background: #3b5b86; color: white; }
header .project { margin-left: auto; font-size: 12px; color: #cfe0ff; }
main { padding: 14px 20px; }
.row { display: flex; gap: 16px; align-items: flex-start; }
.panel { background: white; border: 1px solid #dde2e8; border-radius: 6px; padding: 12px; margin-bottom: 12px; }
.filters { width: 270px; flex: none; }
.filters label, .field label { font-size: 12px; font-weight: 600; color: #52606d; display: block; margin: 8px 0 2px; }
.grow { flex: 1; min-width: 0; }
.message { padding: 8px 12px; border-radius: 4px; margin: 6px 0; white-space: pre-wrap; }
.message.error { background: #fdecea; color: #8a1c12; border: 1px solid #f5c2bd; }
.message.info { background: #e8f1fb; color: #1f3a5f; border: 1px solid #c4d9f2; }
.muted { color: #7b8794; font-size: 13px; }
.summary { font-size: 13px; color: #3e4c59; margin: 4px 0 8px; }
.pager { display: flex; gap: 8px; align-items: center; font-size: 13px; }
button { background: #2f5d8f; color: white; border: none; border-radius: 4px; padding: 6px 12px; cursor: pointer; }
button:disabled { background: #9aa5b1; }
button.secondary { background: #e4e7eb; color: #1f2933; }
.solutions { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.solution-text p { margin: 6px 0; line-height: 1.5; }
.code-block, .sandbox-output { margin: 8px 0; border-radius: 4px; overflow: hidden; }
.code-block { border: 1px solid #c9d6e8; }
.code-block pre { margin: 0; padding: 8px; background: #f3f6fa; overflow-x: auto; }
.sandbox-output { border: 1px solid #d5e5cf; background: #f2f8ef; }
.sandbox-output pre { margin: 0; padding: 8px; white-space: pre-wrap; }
.block-label { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #52606d; padding: 3px 8px; background: rgba(0,0,0,.04); }
.meta { font-size: 12px; color: #52606d; margin: 4px 0 8px; }
.tag { display: inline-block; background: #fff3c4; border: 1px solid #f0d77a; border-radius: 10px; padding: 1px 8px; margin: 2px; font-size: 12px; }
.events { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; color: #3e4c59; max-height: 180px; overflow-y: auto; }
.status { font-weight: 600; }
.gold-answer { display: flex; gap: 6px; align-items: center; font-size: 13px; color: #3e4c59; }
.inline-math p { margin: 0; }
.hljs-keyword, .hljs-built_in { color: #7c3aed; } .hljs-string { color: #0f7b3a; } .hljs-number { color: #b45309; }
.hljs-comment { color: #7b8794; font-style: italic; } .hljs-title, .hljs-function { color: #1d4ed8; }
textarea { width: 100%; font-family: inherit; }
"""

INDEX = (
    """<!DOCTYPE html>
<html>
<head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}<style>"""
    + CSS
    + """</style></head>
<body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body>
</html>"""
)


def _message(text: str | None, kind: str = "error") -> Any:
    if not text:
        return None
    return html.Div(text, className=f"message {kind}", role="alert" if kind == "error" else "status")


def _short_model(model: str) -> str:
    path = Path(model)
    return path.name if model.startswith("/") and path.name else model


class InspectorApp:
    """The Dash app bound to one opened project."""

    def __init__(self, project: InspectorProject) -> None:
        self.project = project
        self.jobs = JobBoard()
        self.default_stop = tuple(project.interpreter_defaults()["sampling"].get("stop") or ())
        self._stats: OrderedDict[Any, Any] = OrderedDict()
        self.app = dash.Dash(
            __name__,
            title="openmath_kedro inspector",
            serve_locally=True,
            assets_folder=str(Path(__file__).with_name("no-assets")),  # all styles are inline
            update_title=None,
        )
        self.app.index_string = INDEX
        self.app.layout = self.layout
        self._register()

    # ------------------------------------------------------------------------------------------------ layout

    def layout(self) -> Any:
        datasets = self.project.datasets()
        shaped = [d for d in datasets if d.generations_shaped]
        default = next(
            (d.name for d in shaped if d.name.endswith("graded_generations")),
            shaped[0].name if shaped else None,
        )
        options = [{"label": f"{d.name}  ·  {d.description}", "value": d.name} for d in datasets]
        compare_options = [{"label": d.name, "value": d.name} for d in shaped]
        return html.Div(
            [
                dcc.Location(id="url"),
                html.Header(
                    [
                        html.H1("openmath_kedro inspector"),
                        dcc.Link("Analyze", href="/", id="nav-analyze"),
                        dcc.Link("Inference", href="/inference", id="nav-inference"),
                        html.Span(
                            f"{self.project.project_path}  ·  env {self.project.env or 'local'}",
                            className="project",
                        ),
                    ]
                ),
                html.Main(
                    [
                        html.Div(self._analyze_layout(options, compare_options, default), id="page-analyze"),
                        html.Div(self._inference_layout(), id="page-inference", style={"display": "none"}),
                    ]
                ),
            ]
        )

    def _analyze_layout(
        self, options: list[dict], compare_options: list[dict], default: str | None
    ) -> list[Any]:
        def multi(id_: str, placeholder: str = "any") -> Any:
            return dcc.Dropdown(id=id_, multi=True, placeholder=placeholder, options=[])

        filters = html.Div(
            [
                html.Strong("Filters"),
                html.Label("benchmark"), multi(FILTER_IDS["benchmarks"]),
                html.Label("model"), multi(FILTER_IDS["models"]),
                html.Label("answer"),
                dcc.Checklist(id=FILTER_IDS["outcomes"], options=[], value=[], inline=True),
                html.Label("finish reason"), multi(FILTER_IDS["finish_reasons"]),
                html.Label("code errors"),
                dcc.RadioItems(
                    id=FILTER_IDS["code_errors"],
                    options=[{"label": "any", "value": "any"}, {"label": "none", "value": "none"},
                             {"label": "some", "value": "some"}],
                    value="any", inline=True,
                ),
                html.Label("MATH subject"), multi(FILTER_IDS["subjects"]),
                html.Label("MATH level"), multi(FILTER_IDS["levels"]),
                html.Label("problem text contains"),
                dcc.Input(id=FILTER_IDS["problem_search"], type="text", debounce=True, placeholder="search problems"),
                html.Label("solution text contains"),
                dcc.Input(id=FILTER_IDS["solution_search"], type="text", debounce=True, placeholder="search solutions"),
                html.Label("removal step (filtering)"), multi(FILTER_IDS["steps"]),
                html.Label("removal reason contains"),
                dcc.Input(id=FILTER_IDS["reason_search"], type="text", debounce=True, placeholder="e.g. not correct"),
                html.Label("label"), multi(FILTER_IDS["labels"]),
            ],
            className="panel filters",
        )  # fmt: skip
        table = html.Div(
            [
                html.Div(id="table-summary", className="summary"),
                html.Div(
                    [
                        html.Span("sort by"),
                        dcc.Dropdown(
                            id="sort-by", options=[{"label": c, "value": c} for c in SORTABLE], value="problem_id",
                            clearable=False, style={"width": "170px"},
                        ),
                        dcc.Checklist(id="sort-descending", options=[{"label": "descending", "value": "desc"}], value=[]),
                        html.Button("◀ previous", id="page-prev", className="secondary"),
                        html.Span(id="page-label"),
                        html.Button("next ▶", id="page-next", className="secondary"),
                    ],
                    className="pager",
                ),
                dag.AgGrid(
                    id="problems-grid",
                    rowData=[],
                    columnDefs=[],
                    getRowId="params.data.problem_id",
                    defaultColDef={"sortable": False, "resizable": True, "filter": False},
                    dashGridOptions={"domLayout": "autoHeight", "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}},
                    style={"width": "100%"},
                ),
                html.Div(
                    [
                        html.Strong("Custom statistics"),
                        html.Span(
                            "  a polars expression per problem over the filtered solutions, e.g. "
                            "(col(\"code_errors\") > 0).mean() or col(\"generation\").str.contains(\"sympy\").sum(); "
                            "names: pl, col, lit, when; evaluated in a separate process with a time limit",
                            className="muted",
                        ),
                        html.Div(
                            [
                                dcc.Input(id="stat-name", type="text", placeholder="name", style={"width": "140px"}),
                                dcc.Input(id="stat-expression", type="text", placeholder='col("tokens_out").mean()',
                                          style={"flex": "1"}),
                                html.Span("time limit (s)", className="muted"),
                                dcc.Input(id="stat-timeout", type="number", value=custom_stats.DEFAULT_TIMEOUT_S,
                                          min=1, max=120, style={"width": "70px"}),
                                html.Button("Add statistic", id="stat-add"),
                                html.Button("Clear", id="stat-clear", className="secondary"),
                            ],
                            className="row", style={"alignItems": "center", "marginTop": "6px"},
                        ),
                        html.Div(id="stat-message"),
                        html.Div(id="stat-results"),
                    ],
                    className="panel", style={"marginTop": "10px"},
                ),
            ],
            className="panel grow",
        )  # fmt: skip
        problem = html.Div(
            [
                html.Div(
                    [html.Strong("Problem "), html.Span(id="problem-title"),
                     dcc.Link("run it on the Inference page", id="problem-inference-link", href="/inference",
                              style={"marginLeft": "12px", "fontSize": "13px"})],
                ),
                html.Div(id="problem-view"),
                dag.AgGrid(
                    id="solutions-grid",
                    rowData=[],
                    columnDefs=[
                        {"field": f, "headerName": h, "width": w}
                        for f, h, w in [
                            ("sample_index", "sample", 90), ("model", "model", 150), ("outcome", "answer", 110),
                            ("predicted_answer", "predicted", 130), ("finish_reason", "finish", 120),
                            ("num_code_calls", "code blocks", 110), ("code_errors", "code errors", 110),
                            ("step", "removal step", 150), ("reason", "reason", 260), ("labels", "labels", 200),
                        ]
                    ],
                    getRowId="params.data.key",
                    defaultColDef={"sortable": True, "resizable": True},
                    dashGridOptions={"domLayout": "normal", "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}},
                    style={"height": "220px", "width": "100%"},
                ),
            ],
            className="panel",
        )  # fmt: skip
        compare = html.Div(
            [
                html.Div(
                    [
                        html.Div([html.Strong("Solution A  "), html.Span(id="side-a-dataset", className="muted")]),
                        dcc.Dropdown(id="sample-a", options=[], placeholder="pick a solution of this problem"),
                        html.Div(id="meta-a", className="meta"),
                        html.Div(id="solution-a", className="solution"),
                        html.Div(
                            [
                                html.Label("labels of solution A"),
                                dcc.Dropdown(id="labels-a", multi=True, options=[{"label": name, "value": name} for name in PRESET_LABELS]),
                                html.Div(
                                    [dcc.Input(id="new-label", type="text", placeholder="new label", style={"flex": "1"}),
                                     html.Button("Save labels", id="save-labels")],
                                    className="row", style={"marginTop": "4px"},
                                ),
                                html.Div(id="label-message"),
                            ],
                            className="field",
                        ),
                    ],
                    className="panel", id="side-a",
                ),
                html.Div(
                    [
                        html.Div(html.Strong("Solution B: compare with another run or model")),
                        dcc.Dropdown(id="compare-dataset", options=compare_options, placeholder="dataset (default: the same)"),
                        dcc.Dropdown(id="sample-b", options=[], placeholder="pick a solution of the same problem"),
                        html.Div(id="meta-b", className="meta"),
                        html.Div(id="solution-b", className="solution"),
                        html.Div(id="compare-message"),
                    ],
                    className="panel", id="side-b",
                ),
            ],
            className="solutions",
        )  # fmt: skip
        return [
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("dataset (any generations-shaped table of the catalog)"),
                            dcc.Dropdown(id="dataset", options=options, value=default, clearable=False),
                        ],
                        className="grow field",
                    ),
                    html.Button("Reload", id="reload", className="secondary", style={"marginTop": "22px"}),
                ],
                className="row panel",
            ),
            dcc.Loading(html.Div(id="dataset-status", className="summary"), type="dot"),
            html.Div(id="analyze-message"),
            dcc.Store(id="view-key"),
            dcc.Store(id="page-number", data=0),
            dcc.Store(id="selected-problem"),
            dcc.Store(id="stats-store", data=[]),
            dcc.Store(id="labels-version", data=0),
            html.Div([filters, table], className="row"),
            problem,
            compare,
        ]

    def _inference_layout(self) -> list[Any]:
        choices, problems = self.project.engine_choices()
        engine_options = [{"label": c.label, "value": c.key} for c in choices]
        engine_options.append({"label": "another checkpoint directory (vLLM)…", "value": CUSTOM_MODEL})
        defaults = self.project.interpreter_defaults()
        sampling, interpreter = defaults["sampling"], defaults["interpreter"]
        problem_tables = self.project.problem_tables()

        def number(id_: str, label: str, value: Any, **kwargs: Any) -> Any:
            return html.Div(
                [
                    html.Label(label),
                    dcc.Input(id=id_, type="number", value=value, style={"width": "140px"}, **kwargs),
                ],
                className="field",
            )

        return [
            html.Div(
                [
                    html.Div(
                        [
                            html.Strong("Problem"),
                            html.Div(
                                [
                                    dcc.Dropdown(
                                        id="inf-problem-table",
                                        options=problem_tables,
                                        value=problem_tables[0] if problem_tables else None,
                                        placeholder="problem table",
                                        style={"width": "320px"},
                                    ),
                                    dcc.Dropdown(
                                        id="inf-problem-pick",
                                        options=[],
                                        placeholder="pick a problem (type to search)",
                                        style={"flex": "1"},
                                    ),
                                ],
                                className="row",
                                style={"marginTop": "6px"},
                            ),
                            html.Label("problem text (pick one above, or type your own)"),
                            dcc.Textarea(id="inf-problem-text", style={"height": "90px"}),
                            html.Div(
                                [
                                    html.Label("gold answer (optional: gives a verdict)"),
                                    dcc.Input(id="inf-gold", type="text", style={"width": "240px"}),
                                    html.Label("answer conventions of benchmark"),
                                    dcc.Input(id="inf-benchmark", type="text", style={"width": "140px"}),
                                ],
                                className="field",
                            ),
                            html.Div(id="inf-problem-preview"),
                        ],
                        className="panel grow",
                    ),
                    html.Div(
                        [
                            html.Strong("Model and prompt"),
                            html.Div(
                                [
                                    html.Label("model (a configured engine)"),
                                    dcc.Dropdown(
                                        id="inf-engine",
                                        options=engine_options,
                                        value=engine_options[0]["value"],
                                        clearable=False,
                                    ),
                                ],
                                className="field",
                            ),
                            dcc.Input(
                                id="inf-custom-model",
                                type="text",
                                placeholder="checkpoint directory (for 'another checkpoint')",
                                style={"width": "100%", "marginTop": "4px"},
                            ),
                            html.Div(
                                [
                                    html.Label("prompt template"),
                                    dcc.Dropdown(
                                        id="inf-prompt",
                                        options=available_prompts(),
                                        value="code_fewshot",
                                        clearable=False,
                                    ),
                                ],
                                className="field",
                            ),
                            html.Div(
                                [
                                    html.Label("few-shot set"),
                                    dcc.Dropdown(
                                        id="inf-examples",
                                        options=available_example_sets(),
                                        value="gsm8k",
                                        placeholder="the template's default",
                                    ),
                                ],
                                className="field",
                            ),
                            dcc.Checklist(
                                id="inf-chat",
                                options=[{"label": "chat template", "value": "chat"}],
                                value=["chat"],
                            ),
                            html.Div(
                                [
                                    html.Label(
                                        "solution prefix (forced start of the solution, e.g. <llm-code>)"
                                    ),
                                    dcc.Textarea(id="inf-prefix", value="", style={"height": "50px"}),
                                ],
                                className="field",
                            ),
                            _message("; ".join(problems), "info") if problems else None,
                        ],
                        className="panel",
                        style={"width": "420px"},
                    ),
                    html.Div(
                        [
                            html.Strong("Sampling and code interpreter"),
                            number("inf-temperature", "temperature", 0.0, min=0, max=2, step=0.05),
                            number("inf-top-p", "top p", 1.0, min=0.01, max=1, step=0.01),
                            number(
                                "inf-max-tokens",
                                "max tokens per round",
                                sampling.get("max_tokens", 256),
                                min=1,
                            ),
                            number(
                                "inf-max-rounds",
                                "max code rounds",
                                interpreter.get("max_code_rounds", 3),
                                min=0,
                            ),
                            number(
                                "inf-max-generated",
                                "max generated tokens",
                                interpreter.get("max_generated_tokens", 512),
                                min=1,
                            ),
                            number(
                                "inf-code-timeout",
                                "code timeout (s)",
                                interpreter.get("code_timeout_s", 10),
                                min=1,
                            ),
                            html.Div(
                                [
                                    html.Label("on a code error"),
                                    dcc.RadioItems(
                                        id="inf-error-policy",
                                        options=["continue", "stop"],
                                        value="continue",
                                        inline=True,
                                    ),
                                ],
                                className="field",
                            ),
                            number("inf-stream", "tokens per live update (0: per round)", 16, min=0),
                        ],
                        className="panel",
                        style={"width": "230px"},
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Button("Run", id="inf-run"),
                    html.Span(id="inf-status", className="status", style={"marginLeft": "12px"}),
                ],
                className="panel",
            ),
            html.Div(id="inf-message"),
            html.Div(
                [
                    html.Div(
                        [html.Strong("Solution, live"), html.Div(id="inf-solution", className="solution")],
                        className="panel grow",
                    ),
                    html.Div(
                        [
                            html.Strong("Result"),
                            html.Div(id="inf-result"),
                            html.Strong("Steps"),
                            html.Div(id="inf-events", className="events"),
                        ],
                        className="panel",
                        style={"width": "380px"},
                    ),
                ],
                className="row",
            ),
            dcc.Store(id="inf-job", storage_type="session"),  # a reload re-attaches to the running job
            dcc.Interval(id="inf-poll", interval=700, disabled=True),
        ]

    # ------------------------------------------------------------------------------------------------ helpers

    def _view(self, name: str | None) -> TableView:
        if not name:
            raise NotGenerationsShaped("pick a dataset")
        return self.project.view(name)

    @staticmethod
    def _filters(values: list[Any]) -> Filters:
        return Filters.from_values(**dict(zip(FILTER_IDS, values, strict=True)))

    def _statistic(
        self, view_key: str, view: TableView, filters: Filters, stat: dict, labels: pl.DataFrame
    ) -> Any:
        key = (view_key, filters, stat["expression"], stat.get("timeout"))
        if key in self._stats:
            self._stats.move_to_end(key)
            return self._stats[key]
        rows = view.filtered_rows(filters, labels)
        result = custom_stats.evaluate(
            rows,
            stat["expression"],
            name=stat["name"],
            timeout_s=float(stat.get("timeout") or custom_stats.DEFAULT_TIMEOUT_S),
        )
        self._stats[key] = result
        while len(self._stats) > 64:
            self._stats.popitem(last=False)
        return result

    def _labels_by_solution(self, view: TableView) -> dict[tuple[str, int], list[str]]:
        labels = self.project.labels().filter(pl.col("solution_set") == view.solution_set_name)
        grouped: dict[tuple[str, int], list[str]] = {}
        for row in labels.iter_rows(named=True):
            grouped.setdefault((row["model"], row["problem_id"], row["sample_index"]), []).append(
                row["label"]
            )
        return grouped  # type: ignore[return-value]

    # ------------------------------------------------------------------------------------------------ callbacks

    def _register(self) -> None:
        app = self.app
        filter_inputs = [Input(FILTER_IDS[name], "value") for name in FILTER_IDS]

        @app.callback(
            Output("page-analyze", "style"),
            Output("page-inference", "style"),
            Output("nav-analyze", "className"),
            Output("nav-inference", "className"),
            Input("url", "pathname"),
        )
        def route(pathname: str | None) -> tuple:
            inference = (pathname or "/").rstrip("/").endswith("inference")
            shown, hidden = {}, {"display": "none"}
            return (hidden, shown, "", "active") if inference else (shown, hidden, "active", "")

        filter_outputs = [Output(FILTER_IDS[name], "options") for name in ("benchmarks", "models", "outcomes",
                          "finish_reasons", "subjects", "levels", "steps", "labels")]  # fmt: skip

        @app.callback(
            Output("view-key", "data"),
            Output("dataset-status", "children"),
            Output("analyze-message", "children"),
            *filter_outputs,
            Input("dataset", "value"),
            Input("reload", "n_clicks"),
            Input("labels-version", "data"),
        )
        def open_dataset(name: str | None, _reload: Any, _labels: Any) -> tuple:
            empty = ([],) * len(filter_outputs)
            if ctx.triggered_id == "labels-version":
                try:
                    view = self._view(name)
                except Exception:
                    return (no_update,) * (3 + len(filter_outputs))
                labels = sorted(set(self.project.labels().filter(pl.col("solution_set") == view.solution_set_name)
                                    .get_column("label").to_list()))  # fmt: skip
                return (no_update,) * (2 + len(filter_outputs)) + (labels,)
            started = time.perf_counter()
            try:
                if ctx.triggered_id == "reload":
                    self.project.forget(name or "")
                view = self._view(name)
            except NotGenerationsShaped as error:
                return None, "", _message(f"{name}: {error}"), *empty
            except Exception as error:
                logger.warning("could not open %s", name, exc_info=True)
                return (
                    None,
                    "",
                    _message(f"{name} could not be opened: {type(error).__name__}: {error}"),
                    *empty,
                )
            choices = view.choices()
            labels = sorted(set(self.project.labels().filter(pl.col("solution_set") == view.solution_set_name)
                                .get_column("label").to_list()))  # fmt: skip
            status = (
                f"{view.frame.height:,} solutions of {view.frame.get_column('problem_id').n_unique():,} problems "
                f"(solution set {view.solution_set_name}); opened in {time.perf_counter() - started:.2f} s"
            )
            return (
                f"{name}",
                status,
                None,
                choices["benchmarks"],
                [{"label": _short_model(m) or "(none)", "value": m} for m in choices["models"]],
                choices["outcomes"],
                choices["finish_reasons"],
                choices["subjects"],
                choices["levels"],
                choices["steps"],
                labels,
            )

        @app.callback(
            Output("problems-grid", "rowData"),
            Output("problems-grid", "columnDefs"),
            Output("table-summary", "children"),
            Output("page-label", "children"),
            Output("page-number", "data"),
            Output("stat-results", "children"),
            Input("view-key", "data"),
            *filter_inputs,
            Input("sort-by", "value"),
            Input("sort-descending", "value"),
            Input("page-prev", "n_clicks"),
            Input("page-next", "n_clicks"),
            Input("stats-store", "data"),
            Input("labels-version", "data"),
            State("page-number", "data"),
        )
        def show_table(view_key: str | None, *values: Any) -> tuple:
            filter_values = values[: len(FILTER_IDS)]
            sort_by, descending, _prev, _next, stats, _labels, page_number = values[len(FILTER_IDS) :]
            if not view_key:
                return [], [], "", "", 0, None
            started = time.perf_counter()
            try:
                view = self._view(view_key)
                filters = self._filters(list(filter_values))
                labels = self.project.labels() if filters.labels else None
                table = view.problem_table(filters, labels)
                pages = max(1, -(-table.height // PAGE_SIZE))
                number = int(page_number or 0)
                if ctx.triggered_id == "page-prev":
                    number = max(0, number - 1)
                elif ctx.triggered_id == "page-next":
                    number = min(pages - 1, number + 1)
                elif ctx.triggered_id not in ("stats-store", "labels-version"):
                    number = 0
                shown = page(table, sort_by=sort_by or "problem_id", descending=bool(descending),
                             offset=number * PAGE_SIZE, limit=PAGE_SIZE)  # fmt: skip
                shown = shown.with_columns(
                    pl.col("problem").str.slice(0, 160),
                    pl.col("majority_answer").str.slice(0, 60),
                )
                columns = [
                    {"field": "problem_id", "headerName": "problem", "pinned": "left", "width": 150},
                    {"field": "benchmark", "width": 100},
                    {"field": "samples", "width": 90}, {"field": "correct", "width": 90},
                    {"field": "incorrect", "width": 95}, {"field": "no_answer", "headerName": "no answer", "width": 100},
                    {"field": "with_code_errors", "headerName": "code errors", "width": 105},
                    {"field": "majority_answer", "headerName": "majority answer", "width": 140},
                    {"field": "majority_votes", "headerName": "votes", "width": 80},
                    {"field": "accuracy", "width": 95},
                    {"field": "expected_answer", "headerName": "gold", "width": 100},
                    {"field": "subject", "width": 130}, {"field": "level", "width": 75},
                    {"field": "problem", "headerName": "problem text", "width": 420},
                ]  # fmt: skip
                failures = []
                overall = []
                for stat in stats or []:
                    column = f"stat: {stat['name']}"
                    try:
                        result = self._statistic(
                            view_key,
                            view,
                            filters,
                            stat,
                            labels if labels is not None else self.project.labels(),
                        )
                    except custom_stats.StatisticError as error:
                        failures.append(f"{stat['name']}: {error}")
                        continue
                    values_ = result.per_problem.rename({"value": column})
                    shown = shown.join(values_, on="problem_id", how="left")
                    columns.insert(
                        1, {"field": column, "headerName": column, "width": 150}
                    )  # next to the problem id: in view
                    overall.append(html.Li([html.Code(stat["expression"]), f"  →  {stat['name']} = {_format(result.overall)} "
                                            f"over all filtered solutions ({result.seconds:.2f} s)"]))  # fmt: skip
                solutions = int(table.get_column("samples").sum()) if table.height else 0
                summary = (
                    f"{table.height:,} problems, {solutions:,} solutions match "
                    f"(server-side, {1000 * (time.perf_counter() - started):.0f} ms)"
                )
                stat_children = [html.Ul(overall)] if overall else []
                if failures:
                    stat_children.append(_message("\n".join(failures)))
                return (
                    rows_as_records(shown.drop("problem_code")),
                    columns,
                    summary,
                    f"page {number + 1} of {pages}",
                    number,
                    stat_children,
                )
            except Exception as error:
                logger.warning("table failed", exc_info=True)
                return [], [], "", "", 0, _message(f"{type(error).__name__}: {error}")

        @app.callback(
            Output("selected-problem", "data"),
            Input("problems-grid", "cellClicked"),
            Input("view-key", "data"),
        )
        def select_problem(cell: dict | None, view_key: str | None) -> Any:
            if ctx.triggered_id == "view-key" or not cell:
                return None
            return cell.get("rowId")

        @app.callback(
            Output("problem-title", "children"),
            Output("problem-view", "children"),
            Output("solutions-grid", "rowData"),
            Output("sample-a", "options"),
            Output("sample-a", "value"),
            Output("side-a-dataset", "children"),
            Output("problem-inference-link", "href"),
            Input("selected-problem", "data"),
            Input("labels-version", "data"),
            *filter_inputs,
            State("view-key", "data"),
            State("sample-a", "value"),
        )
        def show_problem(problem_id: str | None, _labels: Any, *values: Any) -> tuple:
            view_key, current = values[-2], values[-1]
            if not problem_id or not view_key:
                return (
                    "",
                    html.P("Click a problem in the table.", className="muted"),
                    [],
                    [],
                    None,
                    "",
                    "/inference",
                )
            try:
                view = self._view(view_key)
                filters = self._filters(list(values[: len(FILTER_IDS)]))
                rows = view.solutions(problem_id, filters, self.project.labels() if filters.labels else None)
                info = view.problems.filter(pl.col("problem_id") == problem_id)
                problem, expected = info.row(0)[1:3] if info.height else (None, None)
                labels = self._labels_by_solution(view)
                records = []
                for row in rows.iter_rows(named=True):
                    key = f"{row['model']}#{row['sample_index']}"
                    records.append({
                        "key": key, "sample_index": row["sample_index"], "model": _short_model(row["model"]),
                        "outcome": row["outcome"], "predicted_answer": row["predicted_answer"],
                        "finish_reason": row["finish_reason"], "num_code_calls": row["num_code_calls"],
                        "code_errors": row["code_errors"], "step": row["step"], "reason": row["reason"],
                        "labels": ", ".join(labels.get((row["model"], row["problem_id"], row["sample_index"]), [])),
                    })  # fmt: skip
                options = [{"label": f"sample {r['sample_index']} · {r['model']} · {r['outcome']}", "value": r["key"]}
                           for r in records]  # fmt: skip
                keys = [r["key"] for r in records]
                value = (
                    current
                    if current in keys and ctx.triggered_id != "selected-problem"
                    else (keys[0] if keys else None)
                )
                link = "/inference?" + urllib.parse.urlencode({"problem": problem_id})
                return problem_id, problem_view(problem, expected), records, options, value, view_key, link
            except Exception as error:
                logger.warning("problem view failed", exc_info=True)
                return (
                    problem_id,
                    _message(f"{type(error).__name__}: {error}"),
                    [],
                    [],
                    None,
                    "",
                    "/inference",
                )

        @app.callback(
            Output("sample-a", "value", allow_duplicate=True),
            Input("solutions-grid", "cellClicked"),
            prevent_initial_call=True,
        )
        def pick_from_grid(cell: dict | None) -> Any:
            return cell.get("rowId") if cell else no_update

        @app.callback(
            Output("meta-a", "children"),
            Output("solution-a", "children"),
            Output("labels-a", "value"),
            Output("labels-a", "options"),
            Input("sample-a", "value"),
            Input("labels-version", "data"),
            State("selected-problem", "data"),
            State("view-key", "data"),
        )
        def show_solution_a(
            key: str | None, _labels: Any, problem_id: str | None, view_key: str | None
        ) -> tuple:
            presets = [{"label": label, "value": label} for label in PRESET_LABELS]
            if not key or not problem_id or not view_key:
                return "", None, [], presets
            try:
                view = self._view(view_key)
                row = _solution_row(view, problem_id, key)
                if row is None:
                    return "", _message(f"no solution {key} of {problem_id}"), [], presets
                current = self._labels_by_solution(view).get(
                    (row["model"], problem_id, row["sample_index"]), []
                )
                known = sorted(set(PRESET_LABELS) | set(self.project.labels().get_column("label").to_list()))
                return (
                    _meta(row),
                    solution_view(row["generation"]),
                    current,
                    [{"label": name, "value": name} for name in known],
                )
            except Exception as error:
                logger.warning("solution view failed", exc_info=True)
                return "", _message(f"{type(error).__name__}: {error}"), [], presets

        @app.callback(
            Output("labels-version", "data"),
            Output("label-message", "children"),
            Output("new-label", "value"),
            Input("save-labels", "n_clicks"),
            State("labels-a", "value"),
            State("new-label", "value"),
            State("sample-a", "value"),
            State("selected-problem", "data"),
            State("view-key", "data"),
            State("labels-version", "data"),
            prevent_initial_call=True,
        )
        def save_labels(_clicks: Any, chosen: list | None, new: str | None, key: str | None,
                        problem_id: str | None, view_key: str | None, version: int) -> tuple:  # fmt: skip
            if not key or not problem_id or not view_key:
                return no_update, _message("pick a solution first"), no_update
            try:
                view = self._view(view_key)
                row = _solution_row(view, problem_id, key)
                labels = list(
                    dict.fromkeys([*(chosen or []), *([new.strip()] if new and new.strip() else [])])
                )
                self.project.set_labels(dataset=view_key, model=row["model"], problem_id=problem_id,
                                        sample_index=row["sample_index"], labels=labels)  # fmt: skip
                saved = ", ".join(labels) if labels else "no label"
                return (
                    (version or 0) + 1,
                    _message(f"saved ({saved}) to inspector.solutions.labels", "info"),
                    "",
                )
            except Exception as error:
                logger.warning("saving labels failed", exc_info=True)
                return no_update, _message(f"labels not saved: {type(error).__name__}: {error}"), no_update

        @app.callback(
            Output("sample-b", "options"),
            Output("sample-b", "value"),
            Output("compare-message", "children"),
            Input("selected-problem", "data"),
            Input("compare-dataset", "value"),
            State("view-key", "data"),
            State("sample-a", "value"),
        )
        def compare_options(
            problem_id: str | None, other: str | None, view_key: str | None, key_a: str | None
        ) -> tuple:
            if not problem_id or not view_key:
                return [], None, None
            name = other or view_key
            try:
                view = self._view(name)
                rows = view.solutions(problem_id)
                if rows.is_empty():
                    return [], None, _message(f"{name} has no solution of {problem_id}", "info")
                options = [
                    {"label": f"sample {r['sample_index']} · {_short_model(r['model'])} · {r['outcome']}",
                     "value": f"{r['model']}#{r['sample_index']}"}
                    for r in rows.iter_rows(named=True)
                ]  # fmt: skip
                values = [o["value"] for o in options]
                # A is the first solution of a newly picked problem (set in the same round as this callback)
                if ctx.triggered_id == "selected-problem" or not key_a:
                    first = self._view(view_key).solutions(problem_id).head(1)
                    key_a = f"{first['model'][0]}#{first['sample_index'][0]}" if first.height else None
                # the same dataset: the next sample; another run: the same sample index if it has one
                if name == view_key and key_a in values and len(values) > 1:
                    value = values[(values.index(key_a) + 1) % len(values)]
                else:
                    index = key_a.rsplit("#", 1)[-1] if key_a else None
                    value = next((v for v in values if v.rsplit("#", 1)[-1] == index), values[0])
                return options, value, None
            except Exception as error:
                return [], None, _message(f"{name}: {type(error).__name__}: {error}")

        @app.callback(
            Output("meta-b", "children"),
            Output("solution-b", "children"),
            Input("sample-b", "value"),
            State("compare-dataset", "value"),
            State("selected-problem", "data"),
            State("view-key", "data"),
        )
        def show_solution_b(
            key: str | None, other: str | None, problem_id: str | None, view_key: str | None
        ) -> tuple:
            if not key or not problem_id or not view_key:
                return "", None
            try:
                name = other or view_key
                row = _solution_row(self._view(name), problem_id, key)
                if row is None:
                    return "", _message(f"no solution {key} of {problem_id} in {name}")
                return [html.Span(name + " · "), *_meta(row)], solution_view(row["generation"])
            except Exception as error:
                return "", _message(f"{type(error).__name__}: {error}")

        @app.callback(
            Output("stats-store", "data"),
            Output("stat-message", "children"),
            Input("stat-add", "n_clicks"),
            Input("stat-clear", "n_clicks"),
            State("stat-name", "value"),
            State("stat-expression", "value"),
            State("stat-timeout", "value"),
            State("stats-store", "data"),
            State("view-key", "data"),
            *[State(FILTER_IDS[name], "value") for name in FILTER_IDS],
            prevent_initial_call=True,
        )
        def add_statistic(_add: Any, _clear: Any, name: str | None, expression: str | None, timeout: Any,
                          stats: list | None, view_key: str | None, *filter_values: Any) -> tuple:  # fmt: skip
            if ctx.triggered_id == "stat-clear":
                return [], None
            stats = list(stats or [])
            if not expression or not expression.strip():
                return no_update, _message("write an expression first")
            name = (name or "").strip() or f"s{len(stats) + 1}"
            stat = {
                "name": name,
                "expression": expression.strip(),
                "timeout": float(timeout or custom_stats.DEFAULT_TIMEOUT_S),
            }
            try:
                view = self._view(view_key)
                filters = self._filters(list(filter_values))
                result = self._statistic(view_key or "", view, filters, stat, self.project.labels())
            except custom_stats.StatisticError as error:
                return no_update, _message(f"statistic {name!r} not added: {error}")
            except Exception as error:
                logger.warning("statistic failed", exc_info=True)
                return no_update, _message(f"statistic {name!r} not added: {type(error).__name__}: {error}")
            stats = [s for s in stats if s["name"] != name] + [stat]
            return stats, _message(
                f"added {name} = {_format(result.overall)} overall ({result.seconds:.2f} s)", "info"
            )

        # ------------------------------------------------------------------------------ inference page

        @app.callback(
            Output("inf-problem-table", "value"),
            Input("url", "search"),
        )
        def problem_table_from_url(search: str | None) -> Any:
            problem_id = _problem_in_url(search)
            if not problem_id:
                return no_update
            benchmark, split, _ = problem_id.split("/", 2)
            return f"data_preparation.{benchmark}.{split}_problems"

        @app.callback(
            Output("inf-problem-pick", "options"),
            Output("inf-problem-pick", "value"),
            Input("inf-problem-table", "value"),
            State("url", "search"),
        )
        def problem_options(table_name: str | None, search: str | None) -> tuple:
            if not table_name:
                return [], None
            try:
                problems = self.project.load_problems(table_name)
            except Exception:
                logger.warning("could not load %s", table_name, exc_info=True)
                return [], None
            options = [
                {"label": f"{row['problem_id']}: {row['problem'][:90]}", "value": row["problem_id"]}
                for row in problems.select("problem_id", "problem").iter_rows(named=True)
            ]
            wanted = _problem_in_url(search)
            return options, wanted if wanted in {o["value"] for o in options} else None

        @app.callback(
            Output("inf-problem-text", "value"),
            Output("inf-gold", "value"),
            Output("inf-benchmark", "value"),
            Input("inf-problem-pick", "value"),
            State("inf-problem-table", "value"),
        )
        def pick_problem(problem_id: str | None, table_name: str | None) -> tuple:
            if not problem_id or not table_name:
                return no_update, no_update, no_update
            try:
                problems = self.project.load_problems(table_name).filter(pl.col("problem_id") == problem_id)
            except Exception:
                return no_update, no_update, no_update
            if problems.is_empty():
                return no_update, no_update, no_update
            row = problems.row(0, named=True)
            return row["problem"], row["expected_answer"], problem_id.split("/")[0]

        @app.callback(
            Output("inf-problem-preview", "children"),
            Input("inf-problem-text", "value"),
        )
        def preview_problem(text: str | None) -> Any:
            if not text:
                return None
            return html.Div(
                [html.Div("as rendered:", className="muted"), dcc.Markdown(math_markdown(text), mathjax=True)]
            )

        def engines() -> dict[
            str, Any
        ]:  # read again on each use: a checkpoint made while the app runs shows up
            return {c.key: c for c in self.project.engine_choices()[0]}

        @app.callback(
            Output("inf-prompt", "value"),
            Output("inf-chat", "value"),
            Output("inf-prefix", "value"),
            Output("inf-examples", "value"),
            Input("inf-engine", "value"),
        )
        def engine_defaults(key: str | None) -> tuple:
            choice = engines().get(key or "")
            if choice is None:
                return no_update, no_update, no_update, no_update
            from openmath_kedro.prompts import load_prompt

            try:
                takes_examples = bool(load_prompt(choice.prompt).example)
            except Exception:
                takes_examples = False
            return (choice.prompt, ["chat"] if choice.use_chat_template else [], choice.solution_prefix,
                    "gsm8k" if takes_examples else None)  # fmt: skip

        @app.callback(
            Output("inf-job", "data"),
            Output("inf-poll", "disabled"),
            Output("inf-message", "children"),
            Input("inf-run", "n_clicks"),
            State("inf-problem-text", "value"),
            State("inf-gold", "value"),
            State("inf-benchmark", "value"),
            State("inf-engine", "value"),
            State("inf-custom-model", "value"),
            State("inf-prompt", "value"),
            State("inf-examples", "value"),
            State("inf-chat", "value"),
            State("inf-prefix", "value"),
            State("inf-temperature", "value"),
            State("inf-top-p", "value"),
            State("inf-max-tokens", "value"),
            State("inf-max-rounds", "value"),
            State("inf-max-generated", "value"),
            State("inf-code-timeout", "value"),
            State("inf-error-policy", "value"),
            State("inf-stream", "value"),
            prevent_initial_call=True,
        )
        def run_inference(_clicks: Any, problem: str | None, gold: str | None, benchmark: str | None, engine_key: str,
                          custom_model: str | None, prompt: str, examples: str | None, chat: list | None,
                          prefix: str | None, temperature: Any, top_p: Any, max_tokens: Any, max_rounds: Any,
                          max_generated: Any, code_timeout: Any, error_policy: str, stream: Any) -> tuple:  # fmt: skip
            if not problem or not problem.strip():
                return no_update, True, _message("type or pick a problem first")
            try:
                if engine_key == CUSTOM_MODEL:
                    if not custom_model or not custom_model.strip():
                        return (
                            no_update,
                            True,
                            _message("give the checkpoint directory of 'another checkpoint'"),
                        )
                    base = next(iter(engines().values()), None)
                    settings = {
                        k: v
                        for k, v in (
                            base.settings
                            if base and base.settings.get("kind") == "vllm"
                            else {"kind": "vllm"}
                        ).items()
                    }
                    settings.update(kind="vllm", model=custom_model.strip())
                    label = f"vllm: {custom_model.strip()}"
                else:
                    choices = engines()
                    if engine_key not in choices:
                        return (
                            no_update,
                            True,
                            _message(f"no configured engine {engine_key!r} any more: reload the page"),
                        )
                    choice = choices[engine_key]
                    settings, label = dict(choice.settings), choice.label
                request = InferenceRequest(
                    problem=problem.strip(),
                    gold=(gold or "").strip() or None,
                    benchmark=(benchmark or "").strip(),
                    engine_settings=settings,
                    engine_label=label,
                    prompt=prompt,
                    examples=examples or None,
                    use_chat_template=bool(chat),
                    solution_prefix=(prefix or "").replace("\r\n", "\n"),
                    sampling=SamplingParams(
                        temperature=float(temperature or 0.0), top_p=float(top_p or 1.0),
                        max_tokens=int(max_tokens or 256), stop=self.default_stop,
                    ),
                    interpreter=InterpreterSettings(
                        max_code_rounds=int(max_rounds if max_rounds is not None else 3),
                        max_generated_tokens=int(max_generated or 512),
                        error_policy=error_policy if error_policy in ("stop", "continue") else "continue",
                        code_timeout_s=float(code_timeout or 10),
                    ),
                    tokens_per_update=int(stream if stream is not None else 16),
                )  # fmt: skip
            except Exception as error:
                return no_update, True, _message(f"cannot run: {type(error).__name__}: {error}")
            job = self.jobs.start(request)
            return job.id, False, None

        @app.callback(
            Output("inf-status", "children"),
            Output("inf-solution", "children"),
            Output("inf-events", "children"),
            Output("inf-result", "children"),
            Output("inf-poll", "disabled", allow_duplicate=True),
            Output("inf-run", "disabled"),
            Input("inf-poll", "n_intervals"),
            Input("inf-job", "data"),
            prevent_initial_call="initial_duplicate",
        )
        def poll(_n: Any, job_id: str | None) -> tuple:
            job = self.jobs.get(job_id)
            if job is None:
                return "", None, "", None, True, False
            snap = job.snapshot()
            status = f"{snap['status']} · {snap['seconds']:.1f} s"
            result = None
            if snap["error"]:
                result = _message(f"the run failed: {snap['error']}")
            elif snap["result"]:
                r = snap["result"]
                verdict = r["verdict"]
                verdict_text = (
                    "no gold answer given"
                    if verdict is None
                    else f"{'correct' if verdict['equivalent'] else 'not correct'} ({verdict['status']}, {verdict['stage']})"
                )
                result = html.Ul(
                    [
                        html.Li(
                            ["predicted answer: ", html.Code(str(r["predicted_answer"]))], id="inf-predicted"
                        ),
                        html.Li(f"verdict: {verdict_text}", id="inf-verdict"),
                        html.Li(
                            f"finish reason: {r['finish_reason']}"
                            + (f" ({r['error']})" if r["error"] else "")
                        ),
                        html.Li(f"code blocks: {r['num_code_calls']}, code errors: {r['code_errors']}"),
                        html.Li(f"tokens: {r['tokens_in']} in, {r['tokens_out']} out"),
                    ]
                )
            return (
                status,
                [
                    html.Div(
                        [
                            html.Div(snap["description"], className="meta"),
                            *problem_view(snap["problem"], snap["gold"]),
                        ],
                        className="job-problem",
                    ),
                    html.Hr(),
                    *solution_view(snap["text"], empty="(nothing generated yet)"),
                ],
                "\n".join(snap["events"]),
                result,
                snap["done"],
                not snap["done"],
            )


def _problem_in_url(search: str | None) -> str | None:
    problem_id = urllib.parse.parse_qs((search or "").lstrip("?")).get("problem", [None])[0]
    return problem_id if problem_id and problem_id.count("/") >= 2 else None


def _solution_row(view: TableView, problem_id: str, key: str) -> dict | None:
    model, _, index = key.rpartition("#")
    rows = view.solutions(problem_id).filter(pl.col("model") == model, pl.col("sample_index") == int(index))
    return rows.row(0, named=True) if rows.height else None


def _meta(row: dict) -> list[Any]:
    parts = [
        f"sample {row['sample_index']}",
        _short_model(row["model"]),
        f"answer {row['predicted_answer']!s} ({row['outcome']})",
        f"finish {row['finish_reason']}",
        f"{row['num_code_calls']} code block(s), {row['code_errors'] if row['code_errors'] is not None else '?'} error(s)",
    ]
    if row.get("step"):
        parts.append(f"removed at {row['step']}: {row['reason']}")
    return [html.Span(" · ".join(str(p) for p in parts))]


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def create_app(project_path: str | Path = ".", env: str | None = None) -> dash.Dash:
    """The Dash app on the project at ``project_path`` (opened as ``kedro run`` would, in environment ``env``)."""
    return InspectorApp(InspectorProject(Path(project_path), env=env)).app
