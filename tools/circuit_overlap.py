"""Which circuit nodes of a reused model the model it was initialised from also has.

ins1, ins2 and ins3 copy the addition model's weights into the same layers and heads (Quirke,
Neo & Barez 2024), so a node keeps its name across the two models. Reads two ``causal.json``
files written by ``algolens analyse RUN --causal`` (or ``algolens circuit RUN --out`` files) and
prints, as JSON, the circuit of each, the
nodes they share, and the variables IIA aligned to each shared node in either model.

    python tools/circuit_overlap.py reports/causal/add_d6_l2/causal.json \\
        reports/causal/ins1_mix_d6_l3/causal.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def overlap(source: dict, reused: dict) -> dict:
    """The shared circuit nodes of two ``causal.json`` results, with their aligned variables."""
    first, second = (
        r if isinstance(r["circuit"], list) else r["circuit"] for r in (source, reused)
    )
    a, b = first["circuit"], second["circuit"]
    shared = [n for n in b if n in set(a)]
    va, vb = first.get("variables", {}), second.get("variables", {})
    return {
        "source_nodes": len(a),
        "reused_nodes": len(b),
        "shared": len(shared),
        "share_of_source": round(len(shared) / len(a), 3) if a else 0.0,
        "nodes": {n: {"source": va.get(n, []), "reused": vb.get(n, [])} for n in shared},
    }


if __name__ == "__main__":
    first, second = (json.loads(Path(p).read_text()) for p in sys.argv[1:3])
    print(json.dumps(overlap(first, second), indent=1))
