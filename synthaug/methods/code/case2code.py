"""Case2Code (Shao et al., 2024, arXiv 2407.12504, COLING 2025).

Inductive code synthesis: real functions are executed on inputs an LLM wrote
for them, and the training task is to infer the code from the input/output
examples. Steps, as in the authors' repository:

1. ``case2code.functions``: the functions (default: the 164 HumanEval
   canonical solutions, prompt + solution; or every top-level function of the
   ``*.py`` files under ``path``, found with ``ast``, with its module's imports).
2. ``case2code.inputs``: the LLM reads the function and writes 10 different
   example inputs, each a dict from argument names to values
   (``temp=0.2, top_p=0.95, max_tokens=2048``). Decoding is constrained by a
   JSON schema whose items require exactly the function's argument names
   (typed from the annotations), so even a small model writes parseable inputs.
   The function is then executed on each input in the sandbox (1 s per call).
   The item is dropped if execution failed, nothing parsed, the numbers of
   inputs and outputs differ, or every output is an exception; inputs whose
   call raised are dropped (``keep_errors`` keeps them as exception examples,
   as the authors' data does). Verdict kind ``cases``.
3. ``case2code.prompt``: a random subset (at least 3, or all when 3 or fewer)
   of the I/O pairs, a random instruction, with p=0.8 an examples header and
   p=0.8 the function name, the parts shuffled and joined with random
   separators; prompts over 32K characters are dropped; the target is the code.
   ``task: output_prediction`` makes the inverse task instead: given the code
   and one input, predict the output.
"""

from __future__ import annotations

import ast
import json
import random
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, SourceStep, StepContext
from ...io import read_records
from ...llm.types import chat, json_object, object_schema
from ...records import META, derive, source_record
from ...verify.code import call_function
from ...verify.evidence import verdict
from ...verify.sandbox import Sandbox
from ..registry import register
from ..templates import render
from .sources import Function, collect_functions, function_arguments, read_code_documents

PAPER = (
    "Shao et al., 2024, Case2Code: Scalable Synthetic Data for Code Generation (arXiv 2407.12504)"
)
TAXONOMY = "synthesis / data augmentation (code: execution-verified I/O cases)"
STAGE = "instruction tuning (code)"
HUMANEVAL = "humaneval"

# Prompt pieces (paraphrased in the spirit of the authors' prompt_code_data.py).
INSTRUCTIONS = [
    "Write a function that turns each input below into its output.",
    "Write a program that passes these test cases.",
    "A function maps these inputs to these outputs. Can you work out what it is?",
    "From the input/output examples, infer the function that produced them.",
    "Below are input/output examples of a function. Reconstruct the function.",
    "I need a program that processes the inputs and produces the outputs shown.",
    "As a programmer, write a function that satisfies these examples.",
    "Write a function whose arguments are the inputs below and whose return values are the "
    "outputs.",
    "Can you write a function that gives these outputs for these inputs?",
    "Implement a function consistent with the following test examples.",
    "Here are input-output pairs of a function. Deduce the function.",
    "Work out the logic of a function from the examples given.",
    "Using these examples, write a function that returns the right output.",
    "Please code a function that accepts these inputs and returns the outputs shown.",
]
EXAMPLE_HEADERS = [
    "Examples:\n",
    "Test cases:\n",
    "Examples:\n\n",
    "Input/output examples:\n",
    "Input and output pairs:\n",
    "Some test cases:\n",
    "A few examples:\n\n",
    "Arguments and results:\n",
]
FUNCTION_HEADERS = [
    "Function: {name}",
    "The function is named {name}",
    "Start from the function:\n{name}",
    "Function name:\n{name}",
    "Please name the function {name}",
]
SEPARATORS = ["\n", "\n", "\n", "\n\n", "\n\n", "\n\n\n"]
# (template, separator after each example, style): "raw" shows the arguments, "call" a call
EXAMPLE_FORMATS = [
    ("Input: {input}, Output: {output}", "\n", "raw"),
    ("Input example: {input}, Output example: {output}", "\n", "raw"),
    ("# Input\n{input}\n# Output\n{output}", "\n\n", "raw"),
    ("arguments={input}\nreturn={output}", "\n\n", "raw"),
    ("(args={input}, return={output})", "\n", "raw"),
    (">>> {input}\n{output}", "\n", "call"),
    ("{input} -> {output}", "\n", "call"),
    ("assert {input} == {output}", "\n", "call"),
    ("Call {input}, returns {output}", "\n", "call"),
]
OUTPUT_QUESTIONS = [
    "What does this function return for the input below?",
    "Predict the output of the following call.",
    "Given the code, what is the result of this call?",
]


def humaneval_functions() -> list[Function]:
    """The 164 HumanEval problems as full functions: prompt + canonical solution."""
    path = resources.files("synthaug") / "data" / "benchmarks" / "humaneval.jsonl"
    functions = []
    for record in read_records(Path(str(path))):
        code = record["prompt"] + record["canonical_solution"]
        arguments = function_arguments(code, record["entry_point"])
        if arguments is not None:
            functions.append(Function(record["entry_point"], code, *arguments, record["task_id"]))
    return functions


def load_functions(path: str | None) -> list[Function]:
    """HumanEval's functions (``path`` None or ``humaneval``), or every top-level function of
    the ``*.py`` files under ``path``."""
    if path is None or path == HUMANEVAL:
        return humaneval_functions()
    return [f for name, text in read_code_documents(path) for f in collect_functions(text, name)]


class FunctionsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None  # a folder or .py file; default: the HumanEval canonical solutions
    count: int | None = Field(None, ge=1)


@register("case2code.functions", taxonomy="I/O (code functions)", stage=STAGE, paper=PAPER)
class Functions(SourceStep):
    """Functions to run (default: HumanEval's 164 canonical solutions; or a folder of .py files)."""

    Params = FunctionsParams
    writes = ("func_name", "code", "func_args", "func_annotations", "func_source")

    def _functions(self) -> list[Function]:
        return load_functions(self.params.path)[: self.params.count]

    def expected_rows(self) -> int | None:
        return len(self._functions())

    async def rows(self, ctx: StepContext) -> AsyncIterator[dict[str, Any]]:
        source = self.params.path or HUMANEVAL
        for index, function in enumerate(self._functions()):
            yield source_record(function.as_row(), source=source, index=index)


_SCALARS = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}
_SEQUENCES = {"list", "List", "tuple", "Tuple", "Sequence", "Iterable", "set", "Set"}


def _bounded(schema: dict[str, Any], max_string: int | None, max_items: int | None) -> dict:
    if schema.get("type") == "string" and max_string:
        schema["maxLength"] = max_string
    if schema.get("type") == "array" and max_items:
        schema["maxItems"] = max_items
    return schema


def value_schema(
    annotation: str | None, max_string: int | None = None, max_items: int | None = None
) -> dict[str, Any]:
    """A JSON schema for an argument from its annotation (``List[int]`` -> array of integers);
    any JSON value when unknown. ``max_string``/``max_items`` bound strings and arrays."""

    def convert(node: ast.expr | None) -> dict[str, Any]:
        if isinstance(node, ast.Name) and node.id in _SCALARS:
            return _bounded({"type": _SCALARS[node.id]}, max_string, max_items)
        if isinstance(node, ast.Constant) and node.value is None:
            return {"type": "null"}
        if isinstance(node, ast.Name) and node.id in _SEQUENCES:
            return _bounded({"type": "array"}, max_string, max_items)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            outer, inner = node.value.id, node.slice
            if outer in _SEQUENCES:
                elements = inner.elts if isinstance(inner, ast.Tuple) else [inner]
                same = len(elements) == 1 or (
                    len(elements) == 2
                    and isinstance(elements[1], ast.Constant)
                    and elements[1].value is Ellipsis
                )
                item = convert(elements[0]) if same else _any_value(max_string, max_items)
                return _bounded({"type": "array", "items": item}, max_string, max_items)
            if outer == "Optional":
                return {"anyOf": [convert(inner), {"type": "null"}]}
            if outer == "Union" and isinstance(inner, ast.Tuple):
                return {"anyOf": [convert(e) for e in inner.elts]}
            if outer in {"dict", "Dict"}:
                return {"type": "object"}
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return {"anyOf": [convert(node.left), convert(node.right)]}
        return _any_value(max_string, max_items)

    if annotation is None:
        return _any_value(max_string, max_items)
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        return _any_value(max_string, max_items)
    return convert(node)


def _any_value(max_string: int | None, max_items: int | None) -> dict[str, Any]:
    if not (max_string or max_items):
        return {}
    scalar = [
        {"type": "integer"},
        {"type": "number"},
        _bounded({"type": "string"}, max_string, max_items),
        {"type": "boolean"},
    ]
    array = _bounded({"type": "array", "items": {"anyOf": scalar}}, max_string, max_items)
    return {"anyOf": [*scalar, array]}


def inputs_schema(
    args: list[str],
    annotations: dict[str, str],
    count: int,
    max_string: int | None = None,
    max_items: int | None = None,
) -> dict[str, Any]:
    """``{"inputs": [ {arg: value, ...} x count ]}``, every argument name required."""
    item = object_schema(
        {arg: value_schema(annotations.get(arg), max_string, max_items) for arg in args}
    )
    inputs = {"type": "array", "items": item, "minItems": count, "maxItems": count}
    return object_schema({"inputs": inputs})


def parse_inputs(text: str, args: list[str]) -> list[dict[str, Any]]:
    """The example inputs of a reply (dicts with exactly ``args``), duplicates removed."""
    listed = json_object(text).get("inputs")
    inputs, seen = [], set()
    for value in listed if isinstance(listed, list) else []:
        if not isinstance(value, dict) or set(value) != set(args):
            continue
        key = json.dumps(value, sort_keys=True)
        if key not in seen:
            seen.add(key)
            inputs.append({arg: value[arg] for arg in args})
    return inputs


class InputsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    num_inputs: int = Field(10, ge=1)
    temperature: float = Field(0.2, ge=0, le=2)
    top_p: float = Field(0.95, ge=0, le=1)
    max_tokens: int = Field(2048, ge=16)
    max_string_length: int | None = Field(None, ge=1)  # bounds for small models (not in paper)
    max_list_items: int | None = Field(None, ge=1)
    keep_errors: bool = False  # keep inputs whose call raised, as {"error": ...} examples


def check_cases(
    inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], keep_errors: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Case2Code's filter: the kept (inputs, outputs), or ``RowError`` when the item fails."""
    if not inputs or not outputs:
        raise RowError("no_cases", "no inputs or outputs could be parsed")
    if len(inputs) != len(outputs):
        raise RowError("count_mismatch", f"{len(inputs)} inputs but {len(outputs)} outputs")
    if all("error" in output for output in outputs):
        raise RowError("all_errors", f"every call raised (first: {outputs[0]['error']})")
    pairs = [(i, o) for i, o in zip(inputs, outputs, strict=True) if keep_errors or "return" in o]
    return [i for i, _ in pairs], [o for _, o in pairs]


@register("case2code.inputs", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Inputs(MapStep):
    """Case2Code: the LLM writes example inputs, the sandbox runs the function on them."""

    Params = InputsParams
    reads = ("func_name", "code", "func_args")
    writes = ("example_inputs", "example_outputs", "failed_inputs", "verification")
    uses_llm = True

    def request(self, row: dict[str, Any], seed: int):
        p = self.params
        prompt = render(
            __file__,
            "case2code_inputs.j2",
            code=row["code"].rstrip("\n"),
            func_name=row["func_name"],
            args=row["func_args"],
            count=p.num_inputs,
        )
        schema = inputs_schema(
            row["func_args"],
            row.get("func_annotations") or {},
            p.num_inputs,
            p.max_string_length,
            p.max_list_items,
        )
        return chat(
            ("user", prompt),
            temperature=p.temperature,
            top_p=p.top_p,
            max_tokens=p.max_tokens,
            json_schema=schema,
            seed=seed,
        )

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        seed = ctx.seed(row[META]["id"])
        request = self.request(row, seed)
        reply = (await ctx.require_llm().complete(request)).text
        inputs = parse_inputs(reply, row["func_args"])
        fields = await run_cases(
            ctx.sandbox, row["code"], row["func_name"], inputs, self.params.keep_errors
        )
        return [self.derived(row, fields, ctx, [request], seed=seed)]


async def run_cases(
    sandbox: Sandbox,
    code: str,
    func_name: str,
    inputs: list[dict[str, Any]],
    keep_errors: bool = False,
) -> dict[str, Any]:
    """Execute ``func_name`` on each input (1 s per call) and apply Case2Code's filter: the
    record fields (examples and a ``cases`` verdict), or ``RowError`` naming why it failed."""
    if not inputs:
        raise RowError("no_cases", "the reply holds no usable example inputs")
    result, outputs = await call_function(sandbox, code, func_name, inputs)
    if not result.ok:
        raise RowError("execution_failed", f"{result.status}: {result.detail}"[:500])
    kept_inputs, kept_outputs = check_cases(inputs, outputs, keep_errors)
    return {
        "example_inputs": kept_inputs,
        "example_outputs": kept_outputs,
        "failed_inputs": len(inputs) - len(kept_inputs),
        "verification": verdict(
            "cases", True, code=code, func_name=func_name, inputs=kept_inputs, outputs=kept_outputs
        ),
    }


class PromptParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: Literal["case2code", "output_prediction"] = "case2code"
    min_examples: int = Field(3, ge=1)
    p_examples_header: float = Field(0.8, ge=0, le=1)
    p_function_name: float = Field(0.8, ge=0, le=1)
    max_prompt_chars: int = Field(32_000, ge=100)


def _literal(value: Any) -> str:
    """A JSON input value as Python source."""
    return repr(value)


def _output_text(output: dict[str, Any]) -> str:
    """An outcome as shown in a prompt: the exception, or the return value as Python source."""
    return str(output["error"]) if "error" in output else repr(output["return"])


def format_example(
    template: tuple[str, str, str],
    func_name: str,
    inputs: dict[str, Any],
    output: dict[str, Any],
    rng: random.Random,
) -> str:
    """One I/O example in ``template``'s style (a call, or the arguments in one of 3 forms)."""
    text, separator, style = template
    values = [(k, _literal(v)) for k, v in inputs.items()]
    if style == "call":
        named = rng.random() < 0.5
        shown = f"{func_name}({', '.join(f'{k}={v}' if named else v for k, v in values)})"
    else:
        form = rng.random()
        if form < 1 / 3:
            shown = ", ".join(f"{k}:{v}" for k, v in values)
        elif form < 2 / 3:
            shown = ", ".join(v for _, v in values)
        else:
            shown = f"dict({', '.join(f'{k}={v}' for k, v in values)})"
    return text.format(input=shown, output=_output_text(output)) + separator


def build_prompt(
    row: dict[str, Any], rng: random.Random, params: PromptParams
) -> tuple[str, str, list[int]]:
    """Case2Code's prompt for ``row``: ``(prompt, response, chosen example indices)``."""
    inputs, outputs = row["example_inputs"], row["example_outputs"]
    total = len(inputs)
    k = total if total <= params.min_examples else rng.randint(params.min_examples, total)
    order = list(range(total))
    rng.shuffle(order)
    chosen = order[:k]
    instruction = rng.choice(INSTRUCTIONS)
    header = rng.choice(EXAMPLE_HEADERS) if rng.random() < params.p_examples_header else ""
    name = row["func_name"]
    function_header = (
        rng.choice(FUNCTION_HEADERS).format(name=name)
        if rng.random() < params.p_function_name
        else ""
    )
    template = rng.choice(EXAMPLE_FORMATS)
    examples = header + "".join(
        format_example(template, name, inputs[i], outputs[i], rng) for i in chosen
    )
    parts = [instruction, function_header, examples] if function_header else [instruction, examples]
    rng.shuffle(parts)
    prompt = "".join(part + rng.choice(SEPARATORS) for part in parts).strip() + "\n"
    response = f"Here is the function:\n\n```python\n{row['code'].rstrip()}\n```"
    return prompt, response, chosen


def build_output_prediction(row: dict[str, Any], rng: random.Random) -> tuple[str, str, list[int]]:
    """The inverse task: code and one input (as a call) -> the output."""
    index = rng.randrange(len(row["example_inputs"]))
    values = ", ".join(f"{k}={_literal(v)}" for k, v in row["example_inputs"][index].items())
    call = f"{row['func_name']}({values})"
    prompt = (
        f"{rng.choice(OUTPUT_QUESTIONS)}\n\n```python\n{row['code'].rstrip()}\n```\n\n>>> {call}\n"
    )
    return prompt, _output_text(row["example_outputs"][index]), [index]


@register("case2code.prompt", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Prompt(MapStep):
    """Case2Code prompts: random examples, instruction, header and separators; target = the code."""

    Params = PromptParams
    reads = ("func_name", "code", "example_inputs", "example_outputs")
    writes = ("prompt", "response", "chosen_example_idx", "task", "messages")

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p = self.params
        seed = ctx.seed(row[META]["id"])
        rng = random.Random(seed)
        if not row["example_inputs"]:
            raise RowError("no_cases", "no examples to build a prompt from")
        if p.task == "case2code":
            prompt, response, chosen = build_prompt(row, rng, p)
        else:
            prompt, response, chosen = build_output_prediction(row, rng)
        if len(prompt) > p.max_prompt_chars:
            raise RowError("prompt_too_long", f"{len(prompt)} characters > {p.max_prompt_chars}")
        fields = {
            "prompt": prompt,
            "response": response,
            "chosen_example_idx": chosen,
            "task": p.task,
            "messages": [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": response},
            ],
        }
        return [derive(row, fields, step=self.name, method=self.method, seed=seed)]
