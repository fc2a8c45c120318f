"""Reusable modules of the ser-recipes collection (speech emotion recognition on SpeechBrain)."""

__version__ = "0.1.0"
