"""Transcript normalisation before a text upstream (Mitra et al., ICASSP 2024, section 3.2).

"Given transcribed speech, we normalize the text (removing punctuation & considering all
characters in lowercase)". :func:`normalize_text` does that, the same way for every transcript
source (a CTC model's greedy output, which is upper-case letters and ``'``, or the release's
``Transcripts/``), so that the two lexical streams differ only by what was recognised:

* Unicode NFKC, the typographic apostrophe ``’`` read as ``'``, lower case;
* every punctuation mark or symbol becomes a space, except an apostrophe *inside* a word
  (``didn't``, ``podcast's``: the contraction is a word for BERT's vocabulary; the paper does
  not say, this is our choice); quotes around words go;
* whitespace collapsed, leading and trailing spaces removed.

Authors
 * ser-recipes contributors 2026
"""

import re
import unicodedata

_NOT_WORD = re.compile(r"[^\w\s']|_")
_LOOSE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")


def normalize_text(text):
    """Lower case, punctuation removed (apostrophes inside words kept), spaces collapsed.

    Arguments
    ---------
    text : str
        A transcript.

    Returns
    -------
    str
        The normalised transcript (``""`` for a transcript without words).

    Example
    -------
    >>> normalize_text("Well, I DIDN'T   say that -- did you?!")
    "well i didn't say that did you"
    >>> normalize_text("'Quoted' words, the speaker’s e-mail: 3.5 %")
    "quoted words the speaker's e mail 3 5"
    >>> normalize_text(" ... ")
    ''
    """
    text = unicodedata.normalize("NFKC", str(text)).replace("\u2019", "'").lower()
    text = _LOOSE_APOSTROPHE.sub(" ", _NOT_WORD.sub(" ", text))
    return " ".join(text.split())
