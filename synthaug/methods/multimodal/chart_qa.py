"""Chart question answering data whose answers are computed, in the manner of ChartLlama (Han et
al., 2023, arXiv 2311.16483) and Multimodal Self-Instruct (Zhang et al., 2024, arXiv
2407.07053).

ChartLlama's pipeline: (1) GPT-4 writes a chart's data table for a topic, with a chosen number
of rows and columns and a described distribution or trend; (2) GPT-4 writes plotting code for a
chart type and style, run to draw the figure; (3) GPT-4 writes instruction data (chart QA,
summaries, chart-to-table, ...) from the table and the code. Multimodal Self-Instruct does the
same for charts and other abstract images, with answers reasoned from the data behind them.

Steps here:

- ``chart_qa.topics`` (source): per record a topic from a list, the table's size (categories,
  series) and a trend to follow, drawn with the run seed;
- ``chart_qa.table``: the model writes the data table under a JSON schema that fixes the number
  of categories, series and values, so even a small model returns a well-formed table; it is
  checked (distinct labels, finite values) and values are rounded to 2 decimals;
- ``chart_qa.spec``: the model chooses the chart spec (type, palette, grid, legend, value
  labels) under a schema whose type list holds only the types that can show the table;
- ``chart_qa.render``: the chart is drawn from (table, spec) by our fixed matplotlib code in a
  child process and stored content-addressed beside the output (``image``);
- ``chart_qa.ocr`` (optional, the ``ocr`` extra): OCR (RapidOCR) reads the chart back; a
  chart whose title or axis labels it cannot read is flagged (``ocr.passed``) or dropped;
- ``chart_qa.questions``: one record per question of the papers' kinds (value lookup, extreme,
  comparison, trend, sum, difference, chart-to-table, summary; see
  ``synthaug.media.chart_questions``) whose answer is computed from the table and kept as
  ``chart_qa`` verification evidence that ``synthaug verify`` recomputes.

Differences from the papers: the figure is drawn from a declarative spec by synthaug's code,
not by code the model writes (no generated code runs, and the picture matches the table by
construction); questions and answers come from templates over the table rather than from the
model (answers are therefore exact, their wording plainer); the topic list is shipped with
synthaug (ChartLlama has GPT-4 propose topics). The prompts are written for synthaug from the
papers' descriptions (the released prompts were not at hand).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...io.images import ImageStore
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...media import chart_questions, ocr
from ...media.charts import LEGENDS, PALETTES, ChartError, chart_types, check_spec, normalise_table
from ...media.render import RenderError, render
from ...records import META, derive, record_id
from ...verify.evidence import chart_verdict
from ..common.lists import read_list
from ..registry import register
from ..templates import render as render_template

PAPER = (
    "Han et al., 2023, ChartLlama (arXiv 2311.16483); Zhang et al., 2024, Multimodal "
    "Self-Instruct (arXiv 2407.07053)"
)
TAXONOMY = "synthesis / multimodal (chart data, computed answers)"
STAGE = "instruction tuning (multimodal)"
# trends and distributions the data is asked to follow (ChartLlama varies them for diversity)
TRENDS = (
    "rise steadily",
    "fall steadily",
    "rise and then fall",
    "fall and then recover",
    "fluctuate without a clear trend",
    "have one value far above the others",
    "be spread evenly",
)
LABEL = {"type": "string", "minLength": 1, "maxLength": 30}


class TopicsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(100, ge=1, description="charts to make")
    topics_path: str | None = None  # one topic a line; default: synthaug/data/chart_topics.txt
    min_categories: int = Field(3, ge=2, le=12)
    max_categories: int = Field(7, ge=2, le=12)
    max_series: int = Field(3, ge=1, le=5)

    @model_validator(mode="after")
    def _ordered(self) -> TopicsParams:
        if self.min_categories > self.max_categories:
            raise ValueError("min_categories is above max_categories")
        return self


@register("chart_qa.topics", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Topics(SourceStep):
    """A topic, the table's size and a trend per chart to make.

    Output columns: ``topic``, ``categories``, ``series``, ``trend``."""

    Params = TopicsParams
    params: TopicsParams
    writes = ("topic", "categories", "series", "trend")
    seed_data: ClassVar[dict[str, str]] = {"topics_path": "chart_topics.txt"}

    def expected_rows(self) -> int | None:
        return self.params.count

    async def rows(self, ctx: StepContext):
        p, topics = self.params, read_list(self.params.topics_path, "chart_topics.txt")
        for slot in range(p.count):
            rng = random.Random(ctx.seed(slot))
            fields = {
                "topic": rng.choice(topics),
                "categories": rng.randint(p.min_categories, p.max_categories),
                "series": rng.randint(1, p.max_series),
                "trend": rng.choice(TRENDS),
            }
            meta = {"id": record_id(self.name, slot), "parents": [], "step": self.name,
                    "method": self.method, "seed": ctx.seed(slot)}  # fmt: skip
            yield {**fields, META: meta}


def table_schema(categories: int, series: int) -> dict[str, Any]:
    """A data table with exactly ``categories`` categories and ``series`` series of values."""
    values = {"type": "array", "items": {"type": "number"},
              "minItems": categories, "maxItems": categories}  # fmt: skip
    one_series = object_schema({"name": LABEL, "values": values})
    return object_schema({
        "title": {"type": "string", "minLength": 3, "maxLength": 40},
        "x_label": LABEL,
        "y_label": LABEL,
        "categories": {"type": "array", "items": LABEL, "minItems": categories,
                       "maxItems": categories},
        "series": {"type": "array", "items": one_series, "minItems": series, "maxItems": series},
    })  # fmt: skip


def spec_schema(types: list[str]) -> dict[str, Any]:
    """A chart spec whose type is one of ``types``."""
    return object_schema({
        "type": {"enum": types},
        "palette": {"enum": list(PALETTES)},
        "grid": {"type": "boolean"},
        "legend": {"enum": list(LEGENDS)},
        "value_labels": {"type": "boolean"},
    })  # fmt: skip


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=32)


class Propose(MapStep):
    """One JSON-schema-constrained request per row, its object checked by ``accept``."""

    uses_llm = True
    Params = ModelParams
    params: ModelParams

    def request(self, row: dict[str, Any], ctx: StepContext) -> ChatRequest:
        prompt, schema = self.prompt(row)
        return chat(("user", prompt), temperature=self.params.temperature,
                    max_tokens=self.params.max_tokens, json_schema=schema,
                    seed=ctx.seed(row[META]["id"]))  # fmt: skip

    def prompt(self, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def accept(self, row: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        request = self.request(row, ctx)
        completion = await ctx.require_llm().complete(request)
        reply = json_object(completion.text)
        if not reply:
            raise RowError("format", f"the reply is not a JSON object: {completion.text[:200]!r}")
        try:
            fields = self.accept(row, reply)
        except ChartError as error:
            raise RowError(self.error_kind, str(error)) from None
        return [self.derived(row, fields, ctx, [request], seed=request.seed)]

    error_kind = "bad_chart"


@register("chart_qa.table", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Table(Propose):
    """The model writes the chart's data table for the topic (schema-constrained, checked).

    Input columns: ``topic``, ``categories``, ``series``, ``trend``. Output columns: ``table``."""

    reads = ("topic", "categories", "series", "trend")
    writes = ("table",)
    error_kind = "bad_table"

    def prompt(self, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        prompt = render_template(__file__, "chart_table.j2", topic=row["topic"],
                                 categories=row["categories"], series=row["series"],
                                 trend=row["trend"])  # fmt: skip
        return prompt, table_schema(row["categories"], row["series"])

    def accept(self, row: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        return {"table": normalise_table(reply)}


@register("chart_qa.spec", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Spec(Propose):
    """The model chooses the chart spec (type, palette, grid, legend, value labels).

    Input columns: ``table``. Output columns: ``chart``."""

    reads = ("table",)
    writes = ("chart",)
    error_kind = "bad_spec"

    def prompt(self, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        table, types = row["table"], chart_types(row["table"])
        prompt = render_template(__file__, "chart_spec.j2", table=table, types=types,
                                 table_markdown=chart_questions.markdown_table(table))  # fmt: skip
        return prompt, spec_schema(types)

    def accept(self, row: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        return {"chart": check_spec(reply, row["table"])}


@register("chart_qa.render", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Render(MapStep):
    """Draws the chart from its table and spec with fixed matplotlib code in a child process.

    The picture is stored beside the output by content hash.

    Input columns: ``table``, ``chart``. Output columns: ``image`` (path relative to the
    output's folder)."""

    reads = ("table", "chart")
    writes = ("image",)

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        try:
            png = await render("chart", table=row["table"], spec=row["chart"])
        except RenderError as error:
            raise RowError("render", str(error)) from None
        image = ImageStore.beside(ctx.output).put(png)
        return [derive(row, {"image": image}, step=self.name, method=self.method)]


class OcrParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(0.8, ge=0.5, le=1, description="similarity a label must reach")
    on_fail: Literal["flag", "drop"] = "flag"  # drop: an error row of kind ``illegible``


@register("chart_qa.ocr", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Ocr(MapStep):
    """OCR (RapidOCR) checks that the chart's title and axis labels are legible.

    A chart that fails is flagged (``ocr.passed`` false) or, with ``on_fail: drop``, an error
    row.

    Input columns: ``image``, ``table``. Output columns: ``ocr``."""

    Params = OcrParams
    params: OcrParams
    reads = ("image", "table")
    writes = ("ocr",)
    checkpointed = True  # OCR is slow: a resumed run reuses its readings

    def __init__(self, name: str | None = None, **params: Any):
        super().__init__(name, **params)
        ocr.require()

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        table = row["table"]
        labels = {"title": table["title"], "x_label": table["x_label"],
                  "y_label": table["y_label"]}  # fmt: skip
        picture = ImageStore.beside(ctx.output).path(row["image"])
        reading = await asyncio.to_thread(ocr.legibility, picture, labels, self.params.threshold)
        if not reading["passed"] and self.params.on_fail == "drop":
            missing = [name for name, ok in reading["legible"].items() if not ok]
            raise RowError("illegible", f"OCR did not read the {', '.join(missing)}")
        return [derive(row, {"ocr": reading}, step=self.name, method=self.method)]

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {"legible" if row["ocr"]["passed"] else "illegible": 1}


class QuestionsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kinds: list[str] = Field(default_factory=lambda: list(chart_questions.KINDS))

    @model_validator(mode="after")
    def _known(self) -> QuestionsParams:
        unknown = sorted(set(self.kinds) - set(chart_questions.KINDS))
        if unknown or not self.kinds:
            raise ValueError(f"kinds: unknown {unknown or '(none)'}; use "
                             f"{', '.join(chart_questions.KINDS)}")  # fmt: skip
        return self


@register("chart_qa.questions", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Questions(MapStep):
    """One record per question about the chart, its answer computed from the table.

    Input columns: ``table``, ``chart``, ``image``. Output columns: ``question_kind``,
    ``question``, ``answer``, ``messages``, ``verification``."""

    Params = QuestionsParams
    params: QuestionsParams
    reads = ("table", "chart", "image")
    writes = ("question_kind", "question", "answer", "messages", "verification")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        table = row["table"]
        asked = chart_questions.sample(table, row["chart"]["type"], self.params.kinds,
                                       ctx.seed(row[META]["id"]))  # fmt: skip
        out = []
        for index, q in enumerate(asked):
            evidence = chart_verdict(table, q["kind"], q["args"])
            question, answer = evidence["question"], evidence["answer"]
            messages = [{"role": "user", "content": question},
                        {"role": "assistant", "content": answer}]  # fmt: skip
            fields = {"question_kind": q["kind"], "question": question, "answer": answer,
                      "messages": messages, "verification": evidence}  # fmt: skip
            out.append(derive(row, fields, step=self.name, method=self.method, index=index))
        return out

    def row_counts(self, row: dict[str, Any]) -> dict[str, int]:
        return {row["question_kind"]: 1}
