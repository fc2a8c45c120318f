"""Data: audio reading, manifest plumbing and input checks."""
