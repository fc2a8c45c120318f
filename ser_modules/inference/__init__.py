"""Inference interfaces (SpeechBrain ``Pretrained`` subclasses); imports model blocks only."""
