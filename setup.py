"""Installation script of ser-recipes (SpeechBrain recipes for speech emotion recognition).

``install_requires`` declares every distribution that the package, the recipes, the demos and
the benchmarks import, as ranges (the lower bound is the release line tested); the exact
versions tested are pinned in ``requirements.txt`` (runtime) and ``requirements-test.txt``
(test tools), which ``make setup`` installs. ``tests/test_packaging.py`` checks the three
files against each other and against the imports.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

TENSORBOARD = ["tensorboard>=2.14"]  # use_tensorboard: True in a recipe yaml
# pytest; packaging (tests/test_packaging.py reads the requirements); ruff (make lint: lint and
# format checks); tensorboard (tests/test_loggers.py)
TEST = ["pytest>=8", "packaging>=23", "ruff>=0.17", *TENSORBOARD]

setup(
    name="ser-recipes",
    version="0.1.0",
    description=(
        "SpeechBrain recipes for speech emotion recognition: attentive correlation pooling, "
        "SSL upstream + downstream models, dimensional SER on MSP-Podcast"
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["ser_modules", "ser_modules.*"]),
    # numpy, scipy, scikit-learn, matplotlib and transformers releases of the pins need 3.11.
    python_requires=">=3.11",
    install_requires=[
        # torch: PyPI's Linux wheel brings the CUDA libraries; for CPU only, install torch
        # and torchaudio from the PyTorch CPU index first (README, Quick start).
        "torch>=2.11,<3",
        "torchaudio>=2.11,<3",
        "speechbrain>=1.1.2,<1.2",
        # relies on transformers 5 hidden states (train_upstream_downstream.py)
        "transformers>=5.0,<6",
        "huggingface_hub>=1.0,<3",
        "hyperpyyaml>=1.2.3,<2",
        "PyYAML>=6.0",
        "ruamel.yaml>=0.17.28,<0.19",
        "numpy>=2.0,<3",
        "scipy>=1.11",
        "scikit-learn>=1.3",
        "matplotlib>=3.8",
        "soundfile>=0.12.1",
        "tqdm>=4.60",
        "pyroomacoustics>=0.7.4,<0.11",
    ],
    extras_require={
        "test": TEST,
        "dev": TEST,
        "tensorboard": TENSORBOARD,
        "wandb": ["wandb>=0.16"],  # use_wandb: True in a recipe yaml
    },
    entry_points={
        "console_scripts": [
            "ser-predict=ser_modules.tools.predict:main",
            "ser-publish=ser_modules.tools.publish:main",
        ]
    },
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
    ],
)
