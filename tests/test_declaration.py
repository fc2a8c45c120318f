"""The export declaration of an inference template (ser_modules.tools.declaration): where it
is (last, left out of the exported hyperparams), what it must hold, and the errors that name
what is wrong."""

from pathlib import Path

import pytest

from ser_modules.tools.declaration import CARD_KEYS, declaration, split_template
from ser_modules.tools.errors import PublishError
from ser_modules.tools.publish import read_resolved_hparams

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(ROOT.glob("recipes/*/hparams/inference/*.yaml"))


def minimal(**changes):
    mapping = {
        "kind": "categorical",
        "results": ["test_results.json"],
        "files": [{"source": "save/label_encoder.txt", "target": "label_encoder.txt"}],
        "card": dict.fromkeys(CARD_KEYS, "text"),
    }
    return {"export": {**mapping, **changes}}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_every_template_declares_its_export_last(path):
    text = path.read_text()
    template, declared = split_template(text, path)
    assert declared.startswith("export:\n") and text.endswith(declared)
    assert "export:" not in template and template.endswith("\n") and not template.endswith("\n\n")
    assert declaration(read_resolved_hparams(path), path).required_files


def test_the_declaration_must_end_the_template():
    with pytest.raises(PublishError, match="t.yaml: its export: mapping must end the file .*b: 2"):
        split_template("a: 1\nexport:\n    kind: x\nb: 2\n", "t.yaml")
    # comments and indented lines after it belong to it
    assert split_template("a: 1\n# about\nexport:\n    kind: x\n# end\n    y: 1\n")[0] == "a: 1\n"


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"kind": None}, "kind is None, not one of categorical, dimensional"),
        ({"card": {"title": "x"}}, "card has no paper, task, dataset"),
        ({"weights": {"average": "x"}}, "weights has unknown keys average"),
        ({"file": []}, "export: has unknown keys file"),
        ({"files": ["label_encoder.txt"]}, "is not a mapping with source and target"),
    ],
)
def test_a_wrong_declaration_names_the_key(changes, message):
    with pytest.raises(PublishError, match=f"t.yaml: .*{message}"):
        declaration(minimal(**changes), "t.yaml")
    with pytest.raises(PublishError, match="t.yaml declares nothing for the export"):
        declaration({"interface_class": "EmotionClassifier"}, "t.yaml")
