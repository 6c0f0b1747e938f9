"""Ingestion: records to Arrow batches, file formats to SQL over line chunks, pre-ingest hooks."""
