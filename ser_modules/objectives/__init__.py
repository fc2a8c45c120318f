"""Objectives: losses, metrics and saliency-based selection of embedding dimensions."""
