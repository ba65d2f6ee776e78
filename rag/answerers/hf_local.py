"""A local chat model through ``transformers`` (extra ``local``): a Hub id or a folder.

The model is loaded once per (model, device) and shared by every answerer and thread; the
prompt goes through the model's own chat template (control tokens inside documents are
encoded as plain text where the tokenizer supports it), and text streams through
``TextIteratorStreamer`` while ``generate`` runs in a worker thread.
"""

from __future__ import annotations

import functools
import inspect
import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

from rag.answerers.llm import LLMAnswerer, LLMError, Messages
from rag.config import ConfigError, Settings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"

_MODELS: dict[tuple[str, str], tuple[Any, Any]] = {}
_MODELS_LOCK = threading.Lock()


def _import() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ConfigError("the transformers backend needs torch and transformers: "
                          "pip install 'rag-zh[local]' torch") from exc
    return torch, transformers


def resolve_device(device: str = "auto") -> str:
    """'cuda' when asked for or when 'auto' finds a GPU, else 'cpu'."""
    if device != "auto":
        return device
    torch, _ = _import()
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(model: str, device: str) -> tuple[Any, Any]:
    """(tokenizer, model), loaded on first call and shared afterwards."""
    with _MODELS_LOCK:
        key = (model, device)
        if key not in _MODELS:
            _MODELS[key] = _load(model, device)
        return _MODELS[key]


def _load(model: str, device: str) -> tuple[Any, Any]:
    torch, transformers = _import()
    if device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = torch.float32
    log.info("loading %s on %s (%s)", model, device, dtype)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model)
        lm = transformers.AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
        lm.to(device).eval()
    except (OSError, ValueError, RuntimeError) as exc:
        raise LLMError(
            f"transformers: cannot load model {model!r} on {device} ({_first_line(exc)}); give "
            f"a local folder, or download it first: hf download {model}"
        ) from exc
    if not getattr(tokenizer, "chat_template", None):
        raise LLMError(f"transformers: {model!r} has no chat template; use an instruct/chat model")
    return tokenizer, lm


@functools.lru_cache(maxsize=1)
def _can_sanitize() -> bool:
    _, transformers = _import()
    params = inspect.signature(transformers.PreTrainedTokenizerBase.apply_chat_template).parameters
    return "sanitize_control_tokens" in params


class _StopEvent:
    """A stopping criterion that ends generation when the reader goes away."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
        return self.event.is_set()


class TransformersAnswerer(LLMAnswerer):
    """Answers with a local causal LM and its chat template, on CPU or CUDA."""

    name = "transformers"

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "auto",
                 temperature: float = 0.0, timeout: float = 60.0, context_tokens: int = 4096,
                 answer_tokens: int = 512) -> None:
        super().__init__(context_tokens=context_tokens, answer_tokens=answer_tokens)
        self.model = model
        self.device = device
        self.temperature = temperature
        self.timeout = timeout
        self._encode_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TransformersAnswerer:
        return cls(settings.llm_model or DEFAULT_MODEL, timeout=settings.llm_timeout,
                   context_tokens=settings.context_tokens, answer_tokens=settings.answer_tokens)

    def loaded(self) -> tuple[Any, Any]:
        return load_model(self.model, resolve_device(self.device))

    def encode(self, messages: Messages) -> dict[str, Any]:
        """Token ids of ``messages`` through the chat template, ready for ``generate``."""
        tokenizer, lm = self.loaded()
        extra = {"sanitize_control_tokens": True} if _can_sanitize() else {}
        with self._encode_lock:  # fast tokenizers do not like concurrent reconfiguration
            inputs = tokenizer.apply_chat_template(
                list(messages), add_generation_prompt=True, return_tensors="pt",
                return_dict=True, **extra,
            )
        return {k: v.to(lm.device) for k, v in inputs.items()}

    def stream_text(self, messages: Messages, *, max_tokens: int) -> Iterator[str]:
        _, transformers = _import()
        tokenizer, lm = self.loaded()
        inputs = self.encode(messages)
        self._check_length(lm, inputs["input_ids"].shape[-1], max_tokens)
        streamer = transformers.TextIteratorStreamer(
            tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=self.timeout)
        stop = threading.Event()
        failure: list[BaseException] = []
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else \
            tokenizer.eos_token_id
        kwargs = dict(inputs, streamer=streamer, max_new_tokens=max_tokens, pad_token_id=pad,
                      stopping_criteria=transformers.StoppingCriteriaList([_StopEvent(stop)]),
                      **self._sampling())

        def run() -> None:
            try:
                lm.generate(**kwargs)
            except BaseException as exc:  # reported to the reader below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name="rag-generate", daemon=True)
        worker.start()
        try:
            for text in streamer:
                if text:
                    yield text
        except queue.Empty:
            raise LLMError(f"transformers: no output from {self.model!r} within "
                           f"{self.timeout:g} s") from None
        finally:
            stop.set()
            worker.join(timeout=self.timeout)
        if failure:
            reason = _first_line(failure[0])
            raise LLMError(f"transformers: generation failed ({reason})") from failure[0]

    def _sampling(self) -> dict[str, Any]:
        if self.temperature > 0:
            return {"do_sample": True, "temperature": self.temperature}
        # Greedy; unset the model's own sampling defaults so they do not warn.
        return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}

    def _check_length(self, lm: Any, n_input: int, max_tokens: int) -> None:
        limit = getattr(lm.config, "max_position_embeddings", None)
        if limit and n_input + max_tokens > limit:
            raise LLMError(
                f"transformers: the prompt is {n_input} tokens and {max_tokens} more are "
                f"reserved, but {self.model!r} handles {limit}; lower RAG_CONTEXT_TOKENS"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
