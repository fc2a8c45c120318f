"""Names derived from hyperparameters (one place, so every yaml lays out its results alike).

Authors
 * ser-recipes contributors 2026
"""

import os


def upstream_tag(source):
    """The short name of an upstream for results paths: the last component of a Hub id or folder.

    A local folder given as ``ssl_hub`` must not put its whole path inside the results path.

    Arguments
    ---------
    source : str
        Hugging Face Hub id (``microsoft/wavlm-large``) or local folder.

    Returns
    -------
    str

    Example
    -------
    >>> upstream_tag("microsoft/wavlm-large")
    'wavlm-large'
    >>> upstream_tag("/tmp/models/small_wavlm/")
    'small_wavlm'
    """
    tag = os.path.basename(os.path.normpath(str(source)))
    if not tag or tag in (".", ".."):
        raise ValueError(f"Cannot name an upstream after {source!r}: give a Hub id or a folder")
    return tag
