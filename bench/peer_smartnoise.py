"""smartnoise-synth's MST and AIM, peers of bench/privacy.py, in their own environment.

smartnoise-synth 1.0.8 pins ``mbi`` < 2 (private-pgm's numpy estimation) and
``opacus`` < 0.15, so it cannot share the project's environment nor mbi 2.0's:

    python -m venv bench/.venv-smartnoise
    bench/.venv-smartnoise/bin/pip install "smartnoise-synth==1.0.8"

Reads codes and domain from an ``.npz`` (as bench/peer_mbi_mst.py), fits with every
column declared categorical (the codes are the public domain; no preprocessing budget),
writes the synthetic codes and prints the fit seconds and this process's peak RSS.

    ENV/bin/python bench/peer_smartnoise.py mst|aim IN.npz OUT.npz EPSILON DELTA SEED
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd


def main() -> None:
    name, source, target, epsilon, delta, seed = sys.argv[1:7]
    warnings.filterwarnings("ignore")
    np.random.seed(int(seed))
    random.seed(int(seed))
    from snsynth import Synthesizer

    arrays = np.load(source)
    names = [str(n) for n in arrays["names"]]
    frame = pd.DataFrame(arrays["codes"], columns=names)
    start = time.perf_counter()
    model = Synthesizer.create(name, epsilon=float(epsilon), delta=float(delta))
    model.fit(frame, categorical_columns=names, preprocessor_eps=0.0)
    seconds = time.perf_counter() - start
    synthetic = model.sample(len(frame))
    np.savez(target, codes=synthetic[names].to_numpy().astype("int64"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss}))


if __name__ == "__main__":
    main()
