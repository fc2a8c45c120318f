"""Test and demo fixtures: generated IEMOCAP / MSP-Podcast corpora, tiny random SSL and BERT
models."""
