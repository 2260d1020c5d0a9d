"""params.yaml -> one typed, frozen config that rejects unknown, missing and mistyped keys."""
import dataclasses
from pathlib import Path

import pytest
import yaml

from byteloom.config import ConfigError, config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[1]


def params():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_repo_params_load_into_a_frozen_typed_config():
    cfg = load_config(ROOT / "params.yaml")
    assert isinstance(cfg.rcm.size, tuple) and all(isinstance(v, int) for v in cfg.rcm.size)
    assert isinstance(cfg.rcm.fov_deg, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1


@pytest.mark.parametrize("edit, message", [
    (lambda p: p.update(extra=1), r"unknown key\(s\) \['extra'\]"),
    (lambda p: p["rcm"].update(cache_veiws=9), r"<t>\.rcm: unknown key\(s\) \['cache_veiws'\]"),
    (lambda p: p["rcm"].pop("fov_deg"), r"<t>\.rcm: missing key\(s\) \['fov_deg'\]"),
    (lambda p: p["rcm"].update(cache_views="nine"), r"<t>\.rcm\.cache_views: expected int"),
    (lambda p: p["rcm"].update(size=[64]), r"<t>\.rcm\.size: expected 2 values"),
    (lambda p: p["rcm"].update(cache_views=True), r"expected int"),
    (lambda p: p.update(rcm=[1, 2]), r"<t>\.rcm: expected a mapping"),
])
def test_bad_params_name_the_key(edit, message):
    p = params()
    edit(p)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(p, "<t>")


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: params file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
