"""Self-Refine (Madaan et al., 2023, "Self-Refine: Iterative Refinement with Self-Feedback",
arXiv 2303.17651).

One model is generator, critic and refiner: it writes an output y0 for the task x, then
alternates FEEDBACK (specific, actionable feedback fb_t on y_t) and REFINE (a new output
y_{t+1}), until the feedback says to stop or an iteration budget runs out (the paper: up to 4
iterations). REFINE is conditioned on the whole history x, y0, fb0, ..., y_t, fb_t, so the
model does not repeat earlier mistakes (the paper's Eq. 4); FEEDBACK sees x and y_t.

``self_refine.loop``: the feedback is decoded under a JSON schema, ``{feedback, score 1-10,
stop}``, or with ``aspects`` ``{feedback, scores: {aspect: 1-10}, stop}`` (the paper's
multi-aspect feedback; the score is then the mean); the loop stops when ``stop`` is true
(``stopped_by`` "feedback"), when the score reaches ``stop_score`` ("score"), or after
``max_iterations`` outputs ("max_iterations"). Every output gets its feedback, so the last
one is scored too. Records ``iterations: [{response, feedback, score}]`` (plus ``scores`` per
aspect), ``response`` (the final output), ``stopped_by``, and the pair shape, final over
first (``chosen``, ``rejected`` and their scores), null when the first output was never
refined. Sampling at temperature 0.7, the paper's. Dropped, counted by kind:
``empty_prompt``, ``empty_response`` (an empty output) and ``unparseable_feedback`` (the
feedback is not the JSON object, e.g. cut off by ``feedback_max_tokens``).

The paper's prompts are task-specific few-shot prompts for GPT-3.5/4; these are generic
zero-shot ones.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...engine.step import MapStep, RowError, StepContext
from ...llm.types import ChatRequest, chat, json_object, object_schema
from ...records import META
from ..common.rows import dropped
from ..registry import register
from ..templates import render
from .common import PAIR_COLUMNS, prompt_text

PAPER = (
    "Madaan et al., 2023, Self-Refine: Iterative Refinement with Self-Feedback (arXiv 2303.17651)"
)
TAXONOMY = "synthesis / self-improvement (self-feedback and refinement)"
STAGE = "preference alignment (SFT targets and refined-over-first pairs)"
SCORES = list(range(1, 11))


class LoopParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_column: str = "instruction"
    max_iterations: int = Field(4, ge=1, le=16)  # outputs per task, the first included (paper: 4)
    stop_score: float = Field(9, ge=1, le=10)  # ours: the paper's stop rules are per task
    aspects: list[str] | None = Field(None, min_length=1)  # per-aspect scores; None: one score
    temperature: float = Field(0.7, ge=0, le=2)  # the paper's
    max_tokens: int = Field(512, ge=8)  # per output
    feedback_max_tokens: int = Field(256, ge=32)
    feedback_chars: int = Field(400, ge=20)  # bounds the feedback text so it fits


def feedback_schema(aspects: list[str] | None, feedback_chars: int = 400) -> dict[str, Any]:
    """The feedback reply: bounded text, a score (or one per aspect) and the stop flag."""
    score = {"type": "integer", "enum": SCORES}
    scores = {"scores": object_schema(dict.fromkeys(aspects, score))} if aspects else {}
    return object_schema(
        {
            "feedback": {"type": "string", "minLength": 1, "maxLength": feedback_chars},
            **(scores or {"score": score}),
            "stop": {"type": "boolean"},
        }
    )


def parse_feedback(text: str, aspects: list[str] | None = None) -> dict[str, Any] | None:
    """``{feedback, score, stop}`` (with ``scores`` per aspect, ``score`` their mean), or None
    when the reply is not a complete feedback object."""
    reply = json_object(text)
    feedback, stop = reply.get("feedback"), reply.get("stop")
    if not isinstance(feedback, str) or not feedback.strip() or not isinstance(stop, bool):
        return None
    if aspects:
        scores = reply.get("scores")
        if not isinstance(scores, dict) or any(not _score(scores.get(a)) for a in aspects):
            return None
        per_aspect = {a: scores[a] for a in aspects}
        mean = round(sum(per_aspect.values()) / len(aspects), 2)
        return {"feedback": feedback.strip(), "score": mean, "scores": per_aspect, "stop": stop}
    if not _score(reply.get("score")):
        return None
    return {"feedback": feedback.strip(), "score": reply["score"], "stop": stop}


def _score(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10


def stop_reason(
    feedback: dict[str, Any], iteration: int, max_iterations: int, stop_score: float
) -> str | None:
    """Why the loop ends after the feedback on output ``iteration`` (0-based), or None."""
    if feedback["stop"]:
        return "feedback"
    if feedback["score"] >= stop_score:
        return "score"
    return "max_iterations" if iteration + 1 >= max_iterations else None


def refine_prompt(task: str, history: list[dict[str, Any]]) -> str:
    """REFINE's prompt: the task and every earlier output with its feedback, in order."""
    return render(__file__, "self_refine_refine.j2", instruction=task, history=history)


@register("self_refine.loop", taxonomy=TAXONOMY, stage=STAGE, paper=PAPER)
class Loop(MapStep):
    """Self-Refine: generate, then feedback and refine with the same model until it stops."""

    Params = LoopParams
    writes = ("instruction", "iterations", "response", "stopped_by", *PAIR_COLUMNS)
    uses_llm = True

    def input_columns(self) -> set[str]:
        return {self.params.prompt_column}

    async def process(self, row: dict[str, Any], ctx: StepContext) -> list[dict[str, Any]]:
        p, row_id = self.params, row[META]["id"]
        task = prompt_text(row, p.prompt_column)
        llm = ctx.require_llm()
        requests: list[ChatRequest] = []
        history: list[dict[str, Any]] = []
        content = task
        for iteration in range(p.max_iterations):
            request = chat(
                ("user", content),
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                seed=ctx.seed(row_id, "output", iteration),
            )
            requests.append(request)
            response = (await llm.complete(request)).text.strip()
            if not response:
                raise RowError("empty_response", f"output {iteration + 1} is empty")
            request = self.feedback_request(task, response, ctx.seed(row_id, "feedback", iteration))
            requests.append(request)
            reply = (await llm.complete(request)).text
            feedback = parse_feedback(reply, p.aspects)
            if feedback is None:
                fields = {"iterations": history, "response": response, "feedback_reply": reply}
                message = f"the feedback on output {iteration + 1} is not a complete JSON object"
                return [dropped(self, row, "unparseable_feedback", message, iteration, fields)]
            history.append(
                {"response": response, **{k: v for k, v in feedback.items() if k != "stop"}}
            )
            stopped_by = stop_reason(feedback, iteration, p.max_iterations, p.stop_score)
            if stopped_by:
                break
            content = refine_prompt(task, history)
        first, final = history[0], history[-1]
        refined = final["response"] != first["response"]
        model = llm.backend.describe()
        fields = {
            "instruction": task,
            "iterations": history,
            "response": final["response"],
            "stopped_by": stopped_by,
            "chosen": final["response"] if refined else None,
            "rejected": first["response"] if refined else None,
            "chosen_score": final["score"] if refined else None,
            "rejected_score": first["score"] if refined else None,
            "chosen_model": model if refined else None,
            "rejected_model": model if refined else None,
            "pair_method": self.method if refined else None,
        }
        return [self.derived(row, fields, ctx, requests)]

    def feedback_request(self, task: str, response: str, seed: int) -> ChatRequest:
        p = self.params
        prompt = render(
            __file__,
            "self_refine_feedback.j2",
            instruction=task,
            response=response,
            aspects=p.aspects,
        )
        return chat(
            ("user", prompt),
            temperature=p.temperature,
            max_tokens=p.feedback_max_tokens,
            json_schema=feedback_schema(p.aspects, p.feedback_chars),
            seed=seed,
        )
