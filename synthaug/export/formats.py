"""Records to the dataset shapes of the trainers: SFT, DPO/ORPO, KTO and reward models.

The shapes are those of TRL's dataset formats (the column names its trainers read):

- ``sft``: ``{"messages": [system?, user, assistant]}`` (conversational language modeling).
- ``dpo`` and ``orpo``: ``{"prompt", "chosen", "rejected"}`` (preference, explicit prompt).
  DPO: Rafailov et al., 2023, "Direct Preference Optimization", arXiv 2305.18290; ORPO: Hong
  et al., 2024, "ORPO: Monolithic Preference Optimization without Reference Model", arXiv
  2403.07691 (same data, no reference model).
- ``kto``: ``{"prompt", "completion", "label"}`` (unpaired preference; Ethayarajh et al.,
  2024, "KTO: Model Alignment as Prospect Theoretic Optimization", arXiv 2402.01306): a
  pair gives a desirable (chosen, ``True``) and an undesirable (rejected, ``False``) row, as
  TRL's ``unpair_preference_dataset`` does; a row with a ``label`` column gives one.
- ``rm``: ``{"chosen", "rejected"}`` (preference with the prompt implicit in both, the
  Bradley-Terry pairs of InstructGPT's reward model, Ouyang et al., 2022, arXiv 2203.02155).
- ``openai``: plain function-calling JSONL as OpenAI's chat fine-tuning reads it (and the
  fine-tuning services that take its format): ``{"messages": [...], "tools": [...]}``,
  ``tools`` a list of ``{"type": "function", "function": {...}}`` objects (not a string),
  assistant turns with ``tool_calls`` (``{"id", "type": "function", "function": {"name",
  "arguments": JSON string}}``, no empty ``content``), ``tool`` turns ``{"role", "content",
  "tool_call_id"}`` answering an earlier call; tool turns after the last assistant turn
  (which train nothing) are left out; no other columns (see :func:`to_openai`).

Plain (default for ``dpo``/``orpo``/``kto``/``rm``): strings. TRL tokenizes
``prompt + chosen`` with no separator, so a plain prompt ends with :data:`SEPARATOR` (a blank
line) and an ``rm`` text is ``prompt + SEPARATOR + response``. Conversational: lists of
``{"role", "content"}`` messages that TRL renders with the tokenizer's chat template; the
prompt is ``[system?, user]``, completions ``[assistant]``, an ``rm`` side the whole
conversation. ``sft`` is always conversational.

Input columns:

- Prompt: ``prompt_column``, or the first of :data:`PROMPT_COLUMNS` a row has; a non-empty
  ``input_column`` (``input``, as in Alpaca/Self-Instruct rows) is appended after a blank line.
- Response (``sft``, labelled ``kto`` rows): ``response_column``, or the first of
  :data:`RESPONSE_COLUMNS`. An ``sft`` row with a ``messages`` list is used as it is, unless
  a prompt or response column is named. Tool-use rows (APIGen) keep their OpenAI-format
  turns: an assistant message with ``tool_calls`` (arguments as JSON strings) and ``tool``
  messages; a row's ``tools`` list (OpenAI function schemas) becomes the ``tools`` column as
  a JSON string, which TRL's ``SFTTrainer`` decodes and hands to the chat template (a string
  keeps rows whose tools differ in one Arrow column).
- Pairs: ``chosen`` and ``rejected`` strings (the pair records of the preference steps). A
  row whose ``chosen`` and ``rejected`` are both null made no pair (a Self-Refine loop that
  stopped at its first output): the pair formats skip it (:func:`is_unpaired`).
- System: a non-empty string in ``system_column`` becomes the system message of
  conversational output (in plain output it stays an extra column).

Every other column whose value is a string, number, boolean or null is kept as an extra
column (ratings: ``chosen_score``, ``chosen_model``, ``pair_method``...), unless
``keep_extra`` is off; nested values (completion lists, annotations) are not. Names TRL reads
as data (:data:`TRL_COLUMNS`) and the text columns above are never extras, so a leftover
``prompt`` or ``completion`` cannot change how TRL reads a row. ``_meta`` becomes
``source_id`` (its ``id``). A row lacking what the format needs raises :class:`ColumnError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..records import META

FORMATS = ("sft", "dpo", "orpo", "kto", "rm", "openai")
CHAT_FORMATS = ("sft", "openai")  # always conversational
PROMPT_COLUMNS = ("instruction", "prompt", "question")
RESPONSE_COLUMNS = ("response", "output", "completion")
TRL_COLUMNS = frozenset(
    {"prompt", "completion", "chosen", "rejected", "label", "messages", "text", "tools"}
)
SEPARATOR = "\n\n"
SCALARS = (str, int, float, bool, type(None))
_LABELS = {"true": True, "false": False, "1": True, "0": False}

Record = dict[str, Any]
Message = dict[str, Any]


class ColumnError(ValueError):
    """A row lacks a column the format needs, or holds the wrong kind of value in it."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"field '{field}': {problem}")


@dataclass(frozen=True)
class ExportOptions:
    """How records become rows of ``format`` (one of :data:`FORMATS`)."""

    format: str
    conversational: bool = False
    prompt_column: str | None = None
    response_column: str | None = None
    system_column: str = "system"
    input_column: str = "input"
    keep_extra: bool = True


def is_unpaired(record: Record) -> bool:
    """A preference step's row that made no pair: ``chosen`` and ``rejected`` both null."""
    return "chosen" in record and record["chosen"] is None and record.get("rejected") is None


def convert(record: Record, options: ExportOptions) -> list[Record]:
    """The output rows of one record (two for a ``kto`` pair, none for an unpaired row of a
    pair format, else one)."""
    if options.format not in CHAT_FORMATS and is_unpaired(record) and "label" not in record:
        return []
    if options.format == "openai":
        return [to_openai(record, options)]  # the format has no room for other columns
    if options.format == "sft":
        rows = [to_sft(record, options)]
    elif options.format in ("dpo", "orpo"):
        rows = [to_preference(record, options)]
    elif options.format == "kto":
        rows = to_kto(record, options)
    elif options.format == "rm":
        rows = [to_reward(record, options)]
    else:
        raise ValueError(f"unknown format {options.format!r}: use one of {', '.join(FORMATS)}")
    if not options.keep_extra:
        return rows
    extra = extra_columns(record, options)
    return [{**row, **extra} for row in rows]


def convert_all(
    path: str, rows: Iterable[tuple[int, Record]], options: ExportOptions
) -> Iterator[list[Record]]:
    """The output rows of each ``(line, record)``; a bad row raises an InputError there."""
    for line, record in rows:
        try:
            yield convert(record, options)
        except ColumnError as error:
            raise InputError(path, error.problem, line=line, field=error.field) from None


def to_sft(record: Record, options: ExportOptions) -> Record:
    """``{"messages": [...]}``: the row's ``messages``, or system, prompt and response."""
    named = options.prompt_column or options.response_column
    if not named and record.get("messages") is not None:
        return {"messages": _messages(record["messages"]), **_tools(record)}
    prompt = _prompt(record, options)
    response = _text(record, *_response_columns(options), hint="set --response-column")
    return {"messages": [*_system(record, options), _user(prompt), _assistant(response)]}


def to_openai(record: Record, options: ExportOptions) -> Record:
    """``{"messages", "tools"?}`` in OpenAI's chat fine-tuning form: the ``sft`` messages with
    each call's arguments as a JSON string and each ``tool`` turn tied to an earlier call."""
    sft = to_sft(record, options)
    messages, ids = [], set()
    for number, message in enumerate(sft["messages"], 1):
        role = message["role"]
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in ids:
                raise ColumnError("messages", f"message {number} (tool) answers no earlier call")
            messages.append({"role": "tool", "content": message["content"],
                             "tool_call_id": call_id})  # fmt: skip
            continue
        out = {"role": role, "content": message["content"]}
        if isinstance(message.get("name"), str):
            out["name"] = message["name"]
        if role == "assistant" and message.get("tool_calls"):
            out["tool_calls"] = [_openai_call(c, number) for c in message["tool_calls"]]
            ids.update(call["id"] for call in out["tool_calls"])
            if not out["content"]:
                del out["content"]
        messages.append(out)
    while messages[-1]["role"] == "tool":
        messages.pop()
    tools = json.loads(sft["tools"]) if "tools" in sft else []
    return {"messages": messages, **({"tools": tools} if tools else {})}


def _openai_call(call: Any, number: int) -> Record:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise ColumnError("messages", f"message {number}: a tool call without a function name")
    if not isinstance(call.get("id"), str) or not call["id"]:
        raise ColumnError("messages", f"message {number}: a tool call without an id")
    arguments = function.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {"id": call["id"], "type": "function",
            "function": {"name": function["name"], "arguments": arguments}}  # fmt: skip


def to_preference(record: Record, options: ExportOptions) -> Record:
    """``{"prompt", "chosen", "rejected"}`` for DPO and ORPO."""
    prompt = _prompt(record, options)
    chosen, rejected = _text(record, "chosen"), _text(record, "rejected")
    if options.conversational:
        return {
            "prompt": [*_system(record, options), _user(prompt)],
            "chosen": [_assistant(chosen)],
            "rejected": [_assistant(rejected)],
        }
    return {"prompt": prompt + SEPARATOR, "chosen": chosen, "rejected": rejected}


def to_kto(record: Record, options: ExportOptions) -> list[Record]:
    """``{"prompt", "completion", "label"}`` rows: chosen and rejected of a pair, or a labelled row."""
    prompt = _prompt(record, options)
    if "label" in record and "chosen" not in record and "rejected" not in record:
        response = _text(record, *_response_columns(options), hint="set --response-column")
        pairs = [(response, _label(record))]
    else:
        chosen = _text(record, "chosen", hint="or give a 'label' column")
        pairs = [(chosen, True), (_text(record, "rejected"), False)]
    if options.conversational:
        head = [*_system(record, options), _user(prompt)]
        return [{"prompt": head, "completion": [_assistant(t)], "label": k} for t, k in pairs]
    return [{"prompt": prompt + SEPARATOR, "completion": t, "label": k} for t, k in pairs]


def to_reward(record: Record, options: ExportOptions) -> Record:
    """``{"chosen", "rejected"}``, each the whole exchange (TRL's implicit-prompt pairs)."""
    prompt = _prompt(record, options)
    chosen, rejected = _text(record, "chosen"), _text(record, "rejected")
    if options.conversational:
        head = [*_system(record, options), _user(prompt)]
        return {"chosen": [*head, _assistant(chosen)], "rejected": [*head, _assistant(rejected)]}
    return {"chosen": prompt + SEPARATOR + chosen, "rejected": prompt + SEPARATOR + rejected}


def extra_columns(record: Record, options: ExportOptions) -> Record:
    """``source_id`` from ``_meta``, then the row's scalar columns that are not text columns."""
    taken = {*TRL_COLUMNS, *PROMPT_COLUMNS, *RESPONSE_COLUMNS, options.input_column}
    taken |= {c for c in (options.prompt_column, options.response_column) if c}
    if options.conversational or options.format == "sft":
        taken.add(options.system_column)
    extra: Record = {}
    meta = record.get(META)
    if isinstance(meta, dict) and meta.get("id") is not None:
        extra["source_id"] = meta["id"]
    for name, value in record.items():
        if name not in taken and name != META and name not in extra and isinstance(value, SCALARS):
            extra[name] = value
    return extra


def _response_columns(options: ExportOptions) -> tuple[str, ...]:
    return (options.response_column,) if options.response_column else RESPONSE_COLUMNS


def _prompt(record: Record, options: ExportOptions) -> str:
    """The prompt text; a non-empty input column joins it after a blank line."""
    columns = (options.prompt_column,) if options.prompt_column else PROMPT_COLUMNS
    prompt = _text(record, *columns, hint="set --prompt-column")
    extra = record.get(options.input_column) if options.input_column else None
    if extra is None or extra == "":
        return prompt
    if not isinstance(extra, str):
        raise ColumnError(options.input_column, f"expected a string, got {_kind(extra)}")
    return prompt + SEPARATOR + extra


def _text(record: Record, *columns: str, hint: str = "") -> str:
    """The value of the first of ``columns`` the row has: a non-empty string."""
    name = next((c for c in columns if c in record), None)
    if name is None:
        tried = f" (nor {', '.join(repr(c) for c in columns[1:])})" if columns[1:] else ""
        raise ColumnError(columns[0], f"missing{tried}" + (f"; {hint}" if hint else ""))
    value = record[name]
    if not isinstance(value, str):
        raise ColumnError(name, f"expected a string, got {_kind(value)}")
    if not value.strip():
        raise ColumnError(name, "is empty")
    return value


def _label(record: Record) -> bool:
    value = record["label"]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str) and str(value).strip().lower() in _LABELS:
        return _LABELS[str(value).strip().lower()]
    raise ColumnError("label", f"expected true or false, got {value!r}")


def _messages(value: Any) -> list[Message]:
    """A ``messages`` list checked: role and content strings, at least one assistant turn."""
    if not isinstance(value, list) or not value:
        raise ColumnError("messages", f"expected a non-empty list of messages, got {_kind(value)}")
    for number, message in enumerate(value, 1):
        if not isinstance(message, dict):
            raise ColumnError("messages", f"message {number} is {_kind(message)}, not an object")
        for key in ("role", "content"):
            if not isinstance(message.get(key), str):
                raise ColumnError("messages", f"message {number} has no '{key}' string")
    if not any(message["role"] == "assistant" for message in value):
        raise ColumnError("messages", "no assistant message to train on")
    return value


def _tools(record: Record) -> Record:
    """``{"tools": JSON string}`` for a row with a non-empty ``tools`` list, else nothing."""
    tools = record.get("tools")
    if tools is None or tools == []:
        return {}
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise ColumnError("tools", f"expected a list of tool schemas, got {_kind(tools)}")
    return {"tools": json.dumps(tools, ensure_ascii=False)}


def _system(record: Record, options: ExportOptions) -> list[Message]:
    value = record.get(options.system_column)
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise ColumnError(options.system_column, f"expected a string, got {_kind(value)}")
    return [{"role": "system", "content": value}]


def _user(text: str) -> Message:
    return {"role": "user", "content": text}


def _assistant(text: str) -> Message:
    return {"role": "assistant", "content": text}


def _kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return "null" if value is None else kinds.get(type(value), "a number")
