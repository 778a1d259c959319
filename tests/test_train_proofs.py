"""benchmarks/bench_train_proof.py: every stage of every learning proof is a recipe the trainer accepts.

The proofs run for 20 minutes each, outside the test suite; a misspelt key or a value a recipe refuses
would otherwise only show when one is started.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

from vostool.errors import OptionError
from vostool.options import make_options
from vostool.registry import get_method_class
from vostool.training.recipe import split_assignments

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load_proofs() -> dict:
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling memory_attention.py
    spec = importlib.util.spec_from_file_location("bench_train_proof", BENCHMARKS / "bench_train_proof.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.PROOFS


PROOFS = _load_proofs()


@pytest.mark.parametrize("name", sorted(PROOFS))
def test_every_stage_of_a_proof_resolves_to_a_valid_recipe(name):
    proof = PROOFS[name]
    cls = get_method_class(proof.method or name)
    # As prove() runs them: each stage over the proof's settings, then the main run with the proof's own.
    runs = [{**proof.settings, **stage.settings} for stage in proof.stages] + [dict(proof.settings)]
    for settings in runs:
        recipe_values, option_values = split_assignments(cls.Recipe, cls.Options, settings, cls.name)
        make_options(cls.Recipe, recipe_values)  # parses and validates
        make_options(cls.Options, option_values)
    for extra in [{}, *proof.ablations.values()]:
        make_options(cls.Options, {**proof.inference, **extra})  # how the checkpoint is scored
    assert 0 <= sum(stage.share for stage in proof.stages) < 1, "the main run needs some of the minutes"


def test_a_misspelt_key_in_a_proof_would_be_caught():
    cls = get_method_class("rgmp")
    with pytest.raises(OptionError, match="unknown key 'iou_wieght'"):
        split_assignments(cls.Recipe, cls.Options, {**PROOFS["rgmp"].settings, "iou_wieght": "1"}, cls.name)
