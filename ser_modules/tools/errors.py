"""The error of the export and push tools.

Authors
 * ser-recipes contributors 2026
"""


class PublishError(RuntimeError):
    """An experiment folder cannot be exported, or an export folder cannot be pushed."""
