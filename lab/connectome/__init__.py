"""Dynamic connectome lab: which neurons work together, and when (Dyballa et al. 2024).

``data`` (CSV/NPZ/NWB readers) and ``synthetic`` (planted worms) -> ``affinities`` (per-window pairwise
affinity, tensor pairs x windows x animals) -> ``ntf`` (tensorly HALS, rank scan) -> ``communities``
(Leiden/Louvain per factor, membership per window, ARI/NMI) -> ``pipeline`` (config in, result out,
jobs, lab-card re-runs) -> ``figures`` (plotly) and ``cli`` (``dynlab connectome run|scan``).
"""
