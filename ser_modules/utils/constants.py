"""Constants shared by data preparation, recipes, metrics and interfaces (one copy each).

Authors
 * ser-recipes contributors 2026
"""

import re

#: Sample rate of every upstream and of the prepared audio (Hz).
SAMPLE_RATE = 16000

#: Order of the emotion attributes in manifests, model heads, losses and metrics.
DIMENSIONS = ("arousal", "valence", "dominance")

#: MSP-Podcast: the column of each attribute in the release's label files.
MSP_RATING_COLUMNS = {"arousal": "EmoAct", "valence": "EmoVal", "dominance": "EmoDom"}

#: The four IEMOCAP classes of the papers' protocol (``exc`` is merged into ``hap``).
IEMOCAP_EMOTIONS = ("neu", "hap", "ang", "sad")

#: Names of the test manifests of a prepared corpus: ``test``, ``test1``, ``test2``, ...
TEST_SPLIT_PATTERN = re.compile(r"^test\d*$")

#: MSP-Podcast: the manifest of the test set of release 1.3 (Eval1.3), evaluated beside ``test1``.
EVAL13_SPLIT = "eval1.3"

#: The 1-7 rating scale of arousal, valence and dominance (MSP-Podcast).
RATING_SCALE = (1.0, 7.0)

#: Its whole-number bins (1, 2, ..., 7): the per-bin MSE of the dimensional metrics.
RATING_BINS = tuple(range(int(RATING_SCALE[0]), int(RATING_SCALE[1]) + 1))
