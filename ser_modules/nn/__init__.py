"""Model blocks (torch modules): poolings, layer weighting, TC-GRU, ECAPA aggregator and fusion,
upstream wrappers, masking helpers."""
