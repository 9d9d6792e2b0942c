"""The LLM layer: request/completion types, backends, the request cache and the client."""

from .client import LLMClient, LLMError
from .types import ChatRequest, Choice, Completion, Usage

__all__ = ["ChatRequest", "Choice", "Completion", "LLMClient", "LLMError", "Usage"]
