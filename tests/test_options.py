import pytest

from vostool.errors import OptionError
from vostool.methods.frtm.options import FRTMOptions
from vostool.options import describe_options, make_options, parse_assignments


def test_parse_and_apply_every_kind_of_field():
    opts = make_options(FRTMOptions, parse_assignments([
        "backbone=resnet18", "fast=true", "init_iters=5,10", "memory_lr=0.2", "filter_reg=1e-3,1e-1", "merge=soft",
        "update_iters=none",
    ]))
    assert opts.backbone == "resnet18" and opts.fast is True
    assert opts.init_iters == (5, 10) and opts.resolved_init_iters == (5, 10)
    assert opts.update_iters is None and opts.resolved_update_iters == (5,)
    assert opts.memory_lr == 0.2 and opts.filter_reg == (1e-3, 1e-1) and opts.merge == "soft"


def test_unknown_key_lists_valid_ones():
    with pytest.raises(OptionError) as err:
        make_options(FRTMOptions, {"bakbone": "resnet18"})
    assert "bakbone" in str(err.value) and "backbone" in str(err.value) and "memory_size" in str(err.value)


@pytest.mark.parametrize("item,expected", [
    ("backbone=resnet50", "resnet101, resnet18"),
    ("fast=maybe", "true or false"),
    ("memory_size=lots", "integer"),
    ("filter_reg=1", "2 comma-separated"),
    ("memory_size=2", "at least num_aug"),
])
def test_bad_values_say_what_is_expected(item, expected):
    with pytest.raises(OptionError, match=expected):
        make_options(FRTMOptions, parse_assignments([item]))


def test_malformed_assignment():
    with pytest.raises(OptionError, match="key=value"):
        parse_assignments(["fast"])


def test_describe_lists_every_field_with_default():
    rows = {name: (kind, default) for name, kind, default, _ in describe_options(FRTMOptions)}
    assert rows["backbone"] == ("resnet101|resnet18", "resnet101")
    assert rows["memory_size"] == ("int", "80")
    assert rows["filter_reg"][1] == "0.0001,0.01"
