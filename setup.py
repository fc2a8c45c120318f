"""Installation script of ser-recipes (SpeechBrain recipes for speech emotion recognition)."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

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
    python_requires=">=3.9",
    install_requires=[
        "torch==2.11.0",
        "torchaudio==2.11.0",
        "speechbrain>=1.1.2,<1.2",
        "transformers>=4.40",
        "hyperpyyaml>=1.2.3",
        "sentencepiece",
        "soundfile",
        "scikit-learn",
        "matplotlib",
        "huggingface_hub",
        "tqdm",
        "pyroomacoustics>=0.7.4,<0.11",
    ],
    extras_require={"dev": ["pytest"]},
    entry_points={
        "console_scripts": [
            "ser-predict=ser_modules.tools.predict:main",
            "ser-publish=ser_modules.tools.publish:main",
        ]
    },
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
    ],
)
