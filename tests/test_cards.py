"""Every registered method has one card, and the rest of vostool reads its identity from it."""

import pytest

from vostool.cards import MethodCard
from vostool.registry import get_card, get_method_class, method_names
from vostool.weights import NAMED_WEIGHTS, named_for_method


@pytest.mark.parametrize("name", method_names())
def test_card_is_the_method_identity(name):
    card = get_card(name)
    cls = get_method_class(name)
    assert isinstance(card, MethodCard) and card.name == name == cls.name
    assert cls.Options is card.options and cls.Recipe is card.recipe
    assert getattr(cls, "demo_training", None) is card.demo
    assert card.summary and card.paper and card.speeds and all(s.fps > 0 and s.gpu for s in card.speeds)


@pytest.mark.parametrize("name", method_names())
def test_card_names_exactly_the_weights_of_its_method(name):
    card = get_card(name)
    assert all(NAMED_WEIGHTS[w].method == name for w in card.weights)
    assert sorted(card.weights) == sorted(w.name for w in named_for_method(name))


def test_published_speeds_are_the_papers():
    speeds = {s.variant: (s.fps, s.gpu) for name in method_names() for s in get_card(name).speeds}
    assert speeds["frtm"] == (21.9, "V100") and speeds["frtm-fast"][0] == 41.3
    assert speeds["tvos"] == (37.0, "Titan Xp") and speeds["flowvos"][0] == 17.3 and speeds["munet"][0] == 6.42


def test_unknown_name_is_a_method_error():
    from vostool.errors import MethodError

    with pytest.raises(MethodError, match="unknown method"):
        get_card("nope")
