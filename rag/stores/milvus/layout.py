"""Collection layout, generations and the live pointer of the Milvus store.

One *build* (a set of collections sharing a schema: model dimension, analyzer) holds many
*generations*. Every row carries ``born``/``died`` generation numbers and a reader at generation
``G`` sees the rows with ``born <= G < died``. An update writes the rows of generation ``G+1``
(invisible until published), marks replaced rows ``died = G+1`` (still visible at ``G``) and then
publishes by upserting the single row of ``<name>_live``: a one-row write is atomic in Milvus,
so readers switch from ``G`` to ``G+1`` all at once and a crash before it leaves ``G`` intact.

Collections of build ``B`` (prefix ``<name>_<B>``):

* ``_chunks``: chunk text, metadata (doc, paragraphs, offsets, content hash), the dense vector
  and a BM25 sparse vector made by Milvus's own full-text function from the ``keywords`` field;
* ``_paragraphs``: paragraph text and line map, for citations and the document view;
* ``_files``: corpus file fingerprints (what the next update compares against);
* ``_terms``: document frequency per keyword term and generation (for the extractive answerer);
* ``_meta``: the manifest of each generation.

All collections use Strong consistency: a replica that reads the new pointer must also see the
rows it points at.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rag.stores.milvus.client import (
    PLACEHOLDER,
    TEXT_MAX,
    MilvusStoreError,
    Names,
    is_local,
    pymilvus_module,
)

ANALYZERS = ("rag", "jieba")


def analyzer_params(analyzer: str) -> dict[str, Any]:
    """How Milvus tokenizes the ``keywords`` field for BM25.

    ``jieba``: Milvus's own jieba tokenizer on the raw chunk text (tokenized in the cluster), with
    the foundation's stop words; ``rag``: the foundation's own jieba words + CJK bigrams, written
    space-separated and split on whitespace, so both stores score identical terms.
    """
    from rag.keyword import STOPWORDS

    if analyzer == "jieba":
        return {"tokenizer": "jieba", "filter": ["lowercase",
                                                 {"type": "stop", "stop_words": sorted(STOPWORDS)}]}
    if analyzer == "rag":
        return {"tokenizer": "whitespace"}
    raise MilvusStoreError(f"unknown Milvus analyzer {analyzer!r}; use one of "
                           f"{', '.join(ANALYZERS)} (RAG_MILVUS_ANALYZER)")


def _bookkeeping_schema(client: Any, fields: list[tuple[str, Any, dict[str, Any]]]) -> Any:
    DataType = pymilvus_module().DataType
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=1024)
    for name, dtype, kwargs in fields:
        schema.add_field(name, dtype, **kwargs)
    schema.add_field("_v", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    return schema


def _create(client: Any, name: str, schema: Any, vector_indexes: list[tuple[str, str, str]],
            scalar: tuple[str, ...] = ()) -> None:
    params = client.prepare_index_params()
    for field, index_type, metric in vector_indexes:
        params.add_index(field, index_type=index_type, metric_type=metric)
    for field in scalar:
        params.add_index(field, index_type="INVERTED")
    client.create_collection(name, schema=schema, index_params=params,
                             consistency_level="Strong")


def dense_index_type(uri: str) -> str:
    """Exact ``FLAT`` in Milvus Lite, ``AUTOINDEX`` (the server's ANN choice) on a server.

    Milvus Lite 2.5 offers FLAT, IVF_FLAT and AUTOINDEX only; its AUTOINDEX behaved as IVF_FLAT
    and kept recall@10 at 0.818 on 100k clustered vectors (benchmarks/results/
    milvus_vs_faiss.md) and 0.12 on random ones, with ``nprobe``/``ef`` having no effect
    (benchmarks/results/milvus_lite_versions.md); FLAT is exact (about 30-50 ms at 100k).
    """
    return "FLAT" if is_local(uri) else "AUTOINDEX"


def create_build(client: Any, names: Names, dimension: int, analyzer: str,
                 dense_index: str = "AUTOINDEX") -> None:
    """Create the collections of a new build (dropping leftovers of a failed one)."""
    pymilvus = pymilvus_module()
    DataType, Function, FunctionType = pymilvus.DataType, pymilvus.Function, pymilvus.FunctionType
    for existing in names.all():
        if client.has_collection(existing):
            client.drop_collection(existing)
    gen = [("born", DataType.INT64, {}), ("died", DataType.INT64, {})]
    varchar = {"max_length": TEXT_MAX}

    chunks = client.create_schema(auto_id=False, enable_dynamic_field=False)
    chunks.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=1024)
    for name, dtype, kwargs in [
        ("chunk_id", DataType.VARCHAR, {"max_length": 64}),
        ("doc", DataType.VARCHAR, {"max_length": 1024}),
        ("paragraphs", DataType.JSON, {}),
        ("start", DataType.INT64, {}),
        ("end", DataType.INT64, {}),
        ("n_tokens", DataType.INT64, {}),
        ("content", DataType.VARCHAR, {"max_length": 64}),
        ("text", DataType.VARCHAR, varchar),
        ("keywords", DataType.VARCHAR, {**varchar, "enable_analyzer": True,
                                        "analyzer_params": analyzer_params(analyzer)}),
        *gen,
    ]:
        chunks.add_field(name, dtype, **kwargs)
    chunks.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
    chunks.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    chunks.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["keywords"], output_field_names=["sparse"]))
    _create(client, names.chunks, chunks,
            [("dense", dense_index, "IP"), ("sparse", "SPARSE_INVERTED_INDEX", "BM25")],
            ("doc", "born", "died"))

    _create(client, names.paragraphs, _bookkeeping_schema(client, [
        ("doc", DataType.VARCHAR, {"max_length": 1024}),
        ("idx", DataType.INT64, {}),
        ("text", DataType.VARCHAR, varchar),
        ("line_start", DataType.INT64, {}),
        ("line_end", DataType.INT64, {}),
        ("line_starts", DataType.JSON, {}),
        ("page", DataType.INT64, {}),
        *gen,
    ]), [("_v", "FLAT", "L2")], ("doc",))
    _create(client, names.files, _bookkeeping_schema(client, [
        ("path", DataType.VARCHAR, {"max_length": 1024}),
        ("info", DataType.JSON, {}),
        *gen,
    ]), [("_v", "FLAT", "L2")])
    _create(client, names.terms, _bookkeeping_schema(client, [
        ("term", DataType.VARCHAR, {"max_length": 512}),
        ("df", DataType.INT64, {}),
        ("gen", DataType.INT64, {}),
    ]), [("_v", "FLAT", "L2")], ("term",))
    _create(client, names.meta, _bookkeeping_schema(client, [
        ("gen", DataType.INT64, {}),
        ("manifest", DataType.VARCHAR, varchar),
    ]), [("_v", "FLAT", "L2")])


def ensure_live_collection(client: Any, names: Names) -> None:
    if client.has_collection(names.live):
        return
    DataType = pymilvus_module().DataType
    _create(client, names.live, _bookkeeping_schema(client, [
        ("pointer", DataType.VARCHAR, {"max_length": 1024}),
    ]), [("_v", "FLAT", "L2")])


def read_pointer(client: Any, names: Names) -> tuple[str, int] | None:
    """(build, generation) that readers use, or None when nothing was published."""
    if not client.has_collection(names.live):
        return None
    rows = client.query(names.live, ids=["live"], output_fields=["pointer"])
    if not rows:
        return None
    pointer = json.loads(rows[0]["pointer"])
    return str(pointer["build"]), int(pointer["gen"])


def publish(client: Any, names: Names, build: str, gen: int) -> None:
    """Switch every reader to ``build`` at generation ``gen`` (one atomic row write)."""
    ensure_live_collection(client, names)
    client.upsert(names.live, [{"pk": "live", "pointer": json.dumps({"build": build, "gen": gen}),
                                "_v": PLACEHOLDER}])


def read_manifest(client: Any, names: Names, gen: int) -> dict[str, Any]:
    rows = client.query(names.meta, ids=[str(gen)], output_fields=["manifest"])
    if not rows:
        raise MilvusStoreError(
            f"the Milvus store {names.name} has no manifest for generation {gen}; rebuild it with"
            " rag index CORPUS_DIR --store milvus --rebuild"
        )
    return json.loads(rows[0]["manifest"])


def list_builds(client: Any, name: str) -> set[str]:
    """Build ids that have collections under ``name``."""
    pattern = re.compile(rf"^{re.escape(name)}_([0-9a-f]+)_(chunks|paragraphs|files|terms|meta)$")
    return {m.group(1) for c in client.list_collections() if (m := pattern.match(c))}


