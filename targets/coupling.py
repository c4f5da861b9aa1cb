"""The usable coupling graph as flat arrays for the SABRE kernel, built once per Target.

Edge weights are the Target's ``coupler_costs`` over usable couplers, divided by their mean so
a uniform device has weight 1 per coupler (distances then count hops, and the SWAP error term
keeps the scale its constant was tuned for). Distances are all-pairs shortest paths over those
weights; ``hops`` the unweighted ones. A coupler of cost 0 (error 0) is no edge for scipy's
dense shortest paths, as it always was here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hqvit.targets.target import Target


class CouplingData:
    """Arrays for the hot loop: neighbour lists, normalised edge weights, all-pairs distances.

    The kernel only reads them, so one instance is shared by every compile on the Target.
    """

    def __init__(self, target: Target):
        from scipy.sparse.csgraph import shortest_path

        n = target.num_qubits
        usable = set(target.usable_qubits)
        w = np.full((n, n), np.inf)
        raw = {e: c for e, c in sorted(target.coupler_costs.items()) if e[0] in usable and e[1] in usable}
        mean = float(np.mean(list(raw.values()))) if raw else 1.0
        mean = mean if mean > 0 else 1.0  # an error-free device: every coupler costs 0
        self.neighbours: list[list[int]] = [[] for _ in range(n)]
        for (a, b), r in raw.items():
            w[a, b] = w[b, a] = r / mean
            self.neighbours[a].append(b)
            self.neighbours[b].append(a)
        self.cost_matrix = np.where(np.isfinite(w), w, 0.0)
        self.dist = shortest_path(self.cost_matrix, directed=False, unweighted=False)
        self.hops = shortest_path(self.cost_matrix, directed=False, unweighted=True)
        self.coupled = np.isfinite(w)
        self.nb_ptr = np.cumsum([0] + [len(x) for x in self.neighbours], dtype=np.int64)
        self.nb = np.array([q for x in self.neighbours for q in x], dtype=np.int64)
