"""Tests of ser_modules.utils.yaml_values: the project's one YAML reader gives the values that
HyperPyYAML gives (YAML 1.2), with its tags dropped or kept."""

import io

import pytest
from hyperpyyaml import load_hyperpyyaml

from ser_modules.utils.yaml_values import (
    YAMLError,
    load_resolved_nodes,
    parse_overrides,
    parse_yaml_value,
    plain_values,
    read_resolved_values,
    read_yaml_values,
    yaml_tag,
)

HPARAMS = """\
lr: 1e-4
flag: yes
dropout: 0.10
emotions: [neu, hap]
data_folder: !PLACEHOLDER
root: results
output_folder: !ref <root>/lr<lr>
opt_class: !name:torch.optim.Adam
    lr: !ref <lr>
"""


@pytest.fixture
def hparams_file(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text(HPARAMS)
    return path


def test_plain_values_are_those_hyperpyyaml_loads(hparams_file):
    loaded = load_hyperpyyaml(HPARAMS, {"data_folder": "/d"})
    values = read_resolved_values(hparams_file, {"data_folder": "/d"})
    for key in ("lr", "flag", "dropout", "emotions", "data_folder", "output_folder"):
        assert values[key] == loaded[key] and type(values[key]) is type(loaded[key]), key
    assert values["opt_class"] == {"lr": 0.0001}


def test_tags_are_dropped_or_kept(hparams_file):
    values = read_yaml_values(hparams_file)
    assert values["data_folder"] == "" and values["output_folder"] == "<root>/lr<lr>"
    assert values["opt_class"] == {"lr": "<lr>"}
    nodes = load_resolved_nodes(hparams_file, "data_folder: /d\nlr: 0.5")
    assert yaml_tag(nodes["opt_class"]) == "!name:torch.optim.Adam"
    assert plain_values(nodes["opt_class"], keep_tags=True) == {
        "!name:torch.optim.Adam": {"lr": 0.5}
    }
    assert yaml_tag(nodes["lr"]) is None


def test_overrides_as_the_command_line_gives_them():
    overrides = parse_overrides("lr: 1e-4\nemotions: [neu, sad]\nflag: yes")
    assert overrides == {"lr": 0.0001, "emotions": ["neu", "sad"], "flag": "yes"}
    assert parse_overrides(None) == parse_overrides("") == {}
    assert parse_yaml_value("1e-4") == 0.0001 and parse_yaml_value("yes") == "yes"


def test_not_yaml_raises_its_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("a: [1, 2\n")
    with pytest.raises(YAMLError):
        read_yaml_values(path)
    with pytest.raises(YAMLError):
        read_yaml_values(io.StringIO("a: b: c"))
