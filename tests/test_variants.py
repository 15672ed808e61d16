"""The variant catalogue (decon_d2/variants.py) is the one table: its configs exist, names round
trip through the decoder keys, aliases resolve, and the README's table is the catalogue."""
import re

import pytest

from tools.paths import REPO_ROOT
from decon_d2.variants import ALIASES, VARIANTS, get_variant, variant_name


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_row_names_configs_that_exist_and_its_keys_give_back_its_name(name):
    row = VARIANTS[name]
    for rel in filter(None, (row.pretrain, row.demo, row.instant_test, row.study,
                                  row.study_small)):
        assert (REPO_ROOT / "configs" / rel).is_file(), rel
    assert variant_name(row.head, row.decoder_type, row.decoder_levels) == name


def test_aliases_and_unknown_names():
    assert get_variant("encoder_only") is VARIANTS["slotcon"]
    assert set(ALIASES.values()) <= set(VARIANTS)
    with pytest.raises(KeyError, match="decon_ml"):  # the error lists the catalogue
        get_variant("deconml")


def test_combinations_outside_the_catalogue_get_a_derived_label():
    assert variant_name("SlotConHead", "FPN", ("p3", "p4", "p5")) == "decon_fpn[p3,p4,p5]"
    assert variant_name("DenseCLHead", "FPN", ("p2", "p3")) == "decon_densecl_fpn[p2,p3]"


def test_readme_variant_table_is_the_catalogue():
    text = (REPO_ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \| `(.+?)` \| `(.+?)` \| `(.+?)` \|$", text, re.M)
    assert [r[0] for r in rows] == list(VARIANTS)
    for name, _, pretrain, demo, instant in rows:
        row = VARIANTS[name]
        assert (pretrain, demo, instant) == (row.pretrain, row.demo, row.instant_test), name
