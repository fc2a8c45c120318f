"""The steps the two demos (``demo.py``, ``demo_msp.py``) share: the generated corpus and random
SSL model they run a recipe with, and the command line of that recipe.

Authors
 * ser-recipes contributors 2026
"""

import os
import sys


def generate_inputs(tag, out, corpus_name, generate, ssl_kind, ssl_description, size="tiny"):
    """Steps 1 and 2 of a demo: a corpus generated in ``<out>/data`` and a random SSL model in
    ``<out>/<size>_<ssl_kind>`` (each skipped when it exists).

    Arguments
    ---------
    tag : str
        The demo's name in its messages, e.g. ``"demo"``.
    out : str
        The demo's output folder.
    corpus_name : str
        The corpus in the messages, e.g. ``"IEMOCAP"``.
    generate : callable
        Generates the corpus in the folder it is given and returns the corpus's root folder
        (e.g. :func:`ser_modules.testing.synthetic.generate_iemocap` with its options bound).
    ssl_kind : str
        ``"wavlm"``, ``"hubert"`` or ``"wav2vec2"``.
    ssl_description : str
        The model in the messages, e.g. ``"WavLM"``.
    size : str
        The size of :func:`ser_modules.testing.tiny_ssl.save_random_ssl_model`.

    Returns
    -------
    tuple of str
        The corpus folder and the SSL model folder.
    """
    from ser_modules.testing.tiny_ssl import save_random_ssl_model

    print(f"[{tag}] 1/3 generating the {corpus_name}-format corpus in {out}/data ...", flush=True)
    corpus = generate(os.path.join(out, "data"))
    model = f"{size}_{ssl_kind}"
    print(
        f"[{tag}] 2/3 building a {size} random {ssl_description} in {out}/{model} ...", flush=True
    )
    ssl_folder = save_random_ssl_model(ssl_kind, os.path.join(out, model), size=size)
    return corpus, ssl_folder


def recipe_command(recipe, script, hparams, corpus, ssl_folder, options):
    """The command that runs ``<recipe>/<script>`` with ``<recipe>/hparams/<hparams>`` on the
    corpus and SSL model of :func:`generate_inputs`, then ``options``.

    Example
    -------
    >>> recipe_command("r", "train.py", "h.yaml", "c", "s", ["--lr=0.1"])[1:]
    ['r/train.py', 'r/hparams/h.yaml', '--data_folder=c', '--ssl_hub=s', '--lr=0.1']
    """
    return [
        sys.executable,
        os.path.join(recipe, script),
        os.path.join(recipe, "hparams", hparams),
        f"--data_folder={corpus}",
        f"--ssl_hub={ssl_folder}",
        *options,
    ]
