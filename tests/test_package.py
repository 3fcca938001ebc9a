"""``import ebn_tf``: light, and every public submodule reachable from it, loaded lazily.

Each check runs in a fresh interpreter: the test session has imported everything already.
"""

import json
import subprocess
import sys

# Heavy dependencies of the submodules that load on first use, not at ``import ebn_tf``.
HEAVY = ["tensorflow_datasets", "larq_compute_engine", "sklearn", "matplotlib"]

PROBE = f"""
import json, sys
from absl import flags

import ebn_tf

def ours():  # absl flags defined by ebn_tf's modules (TensorFlow defines its own)
    return sorted(m for m in flags.FLAGS.flags_by_module_dict() if m.startswith("ebn_tf"))

state = {{"after_import": [m for m in {HEAVY!r} if m in sys.modules], "flags": ours()}}
state["lazy_in_dir"] = [n for n in ("data", "export", "zoo", "training") if n in dir(ebn_tf)]
state["datasets"] = ebn_tf.data.names()
state["exportable"] = callable(ebn_tf.export.convert)
state["zoo"] = ebn_tf.zoo.names()
state["recipes"] = ebn_tf.training.recipe_names()
state["same_module"] = ebn_tf.data is sys.modules["ebn_tf.data"]
state["flags_after_use"] = ours()
try:
    ebn_tf.no_such_module
except AttributeError as error:
    state["error"] = str(error)
print(json.dumps(state))
"""


def test_import_is_light_and_submodules_load_on_first_use():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["after_import"] == [], "import ebn_tf pulled in heavy dependencies"
    # TensorFlow itself imports absl.flags; the package must define none of its own.
    assert state["flags"] == [] and state["flags_after_use"] == []
    assert state["lazy_in_dir"] == ["data", "export", "zoo", "training"]
    assert "fashion_mnist" in state["datasets"] and state["exportable"]
    assert "ebnet_fmnist" in state["zoo"] and "fmnist_quick" in state["recipes"]
    assert state["same_module"]
    assert state["error"] == "module 'ebn_tf' has no attribute 'no_such_module'"
