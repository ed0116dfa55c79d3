"""MST on ``mbi`` 2.0 (private-pgm's estimation), the peer of bench/privacy.py.

Runs in its own environment (mbi 2.0 needs JAX and cannot share the project's): the
reference mechanism of private-pgm's ``mechanisms/mst.py`` (three equal zCDP parts:
1-way marginals, exponential-mechanism spanning tree, pair marginals; no domain
compression), with mbi's mirror descent (5000 iterations, as the reference) and its
``synthetic_data``. Reads codes and domain from an ``.npz``, writes the synthetic codes;
RHO is the zCDP budget (bench/privacy.py converts (epsilon, delta) with our accountant).
Prints the fit seconds and this process's peak RSS. Its environment:

    python -m venv bench/.venv-mbi && bench/.venv-mbi/bin/pip install "mbi==2.0.0"

    ENV/bin/python bench/peer_mbi_mst.py IN.npz OUT.npz RHO SEED
"""

from __future__ import annotations

import itertools
import json
import resource
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
from mbi import Dataset, Domain, LinearMeasurement, estimation  # noqa: E402


def main() -> None:
    source, target, rho, seed = sys.argv[1:5]
    rng = np.random.default_rng(int(seed))
    arrays = np.load(source)
    names = [str(n) for n in arrays["names"]]
    sizes = [int(s) for s in arrays["sizes"]]
    codes = arrays["codes"]
    domain = Domain(names, sizes)
    data = Dataset({n: codes[:, i] for i, n in enumerate(names)}, domain)
    start = time.perf_counter()
    rho = float(rho)
    sigma = np.sqrt(3 / (2 * rho))

    def measure(cliques):
        scale = sigma * np.sqrt(len(cliques))
        out = []
        for clique in cliques:
            x = np.asarray(data.project(clique).datavector())
            out.append(LinearMeasurement(x + rng.normal(0, scale, x.size), clique, stddev=scale))
        return out

    log1 = measure([(n,) for n in names])
    est = estimation.MirrorDescent().estimate(domain, log1, iters=1000)
    weights = {}
    for a, b in itertools.combinations(names, 2):
        xhat = np.asarray(est.project((a, b)).datavector())
        x = np.asarray(data.project((a, b)).datavector())
        weights[a, b] = np.abs(x - xhat).sum()
    eps_select = np.sqrt(8 * (rho / 3) / (len(names) - 1))
    group = {n: n for n in names}

    def find(n):
        while group[n] != n:
            n = group[n]
        return n

    edges = []
    for _ in range(len(names) - 1):
        candidates = [e for e in weights if find(e[0]) != find(e[1])]
        q = np.array([weights[e] for e in candidates])
        logits = 0.5 * eps_select * (q - q.max())
        pick = candidates[int(np.argmax(logits + rng.gumbel(size=len(q))))]
        group[find(pick[0])] = find(pick[1])
        edges.append(pick)
    log2 = measure(edges)
    model = estimation.MirrorDescent().estimate(domain, log1 + log2, iters=5000)
    synthetic = model.synthetic_data(rows=len(codes))
    seconds = time.perf_counter() - start
    out = np.column_stack([np.asarray(synthetic.to_dict()[n]) for n in names])
    np.savez(target, codes=out)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss}))


if __name__ == "__main__":
    main()
