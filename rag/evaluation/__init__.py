"""Evaluation of retrieval, answers, citations, abstention and latency over a Q&A set.

``evaluate(rag, load_qa("eval/qa_seeds.jsonl"))`` returns (report, per-question records);
``rag eval`` (``rag.evaluation.command.run``) also writes and prints the report.
"""

from rag.evaluation.dataset import DatasetError, QAItem, convert_squad, load_qa
from rag.evaluation.runner import evaluate

__all__ = ["DatasetError", "QAItem", "convert_squad", "evaluate", "load_qa"]
