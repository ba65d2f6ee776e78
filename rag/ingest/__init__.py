"""Ingestion: corpus files -> paragraphs -> chunks -> vectors, ready for a store to publish.

``corpus`` fingerprints the files of a corpus folder, ``process`` turns one file into its
paragraphs and chunks (the single function every engine uses), and ``engines`` runs that plus
embedding for many files, in this process (``local``) or on Ray (``ray``). ``rag.indexing``
composes them with a store.
"""
