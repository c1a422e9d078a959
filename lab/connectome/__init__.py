"""Dynamic connectome lab: which neurons work together, and when (Dyballa et al. 2024).

``data`` (the Recording), ``readers`` (CSV/NPZ/NWB), ``combine`` (several files, covariates) and ``synthetic``
(planted worms, ``truth``) -> ``cohort`` and ``affinities`` (per-window pairwise affinity, tensor pairs x windows
x animals) -> ``ntf`` (tensorly HALS, rank scan) -> ``communities`` (Leiden/Louvain per factor, membership per
window, ARI/NMI) -> ``pipeline`` (``config`` in, ``results`` out) -> ``figures`` (plotly), ``downloads`` (files)
and ``cli`` (``dynlab connectome run|scan``).
"""

from lab.core.labs import LabSpec, Verb

LAB = LabSpec(
    key="connectome",
    title="Dynamic connectome",
    question="Which neurons work together, and when?",
    papers=("Dyballa et al. 2024, Learning dynamic representations of the functional connectome",),
    icon=":material/hub:",
    page="pages/connectome.py",
    order=30,
    cli="lab.connectome.cli",
    verbs=(
        Verb("run", "lab.connectome.config:ConnectomeConfig", "lab.connectome.pipeline:run_verb",
             help="factorize and find communities per factor and per window",
             example={"source": "synthetic", "worm": {"neurons": 10, "communities": 2, "epochs": 2, "animals": 2,
                                                      "frames_per_epoch": 60}, "rank": 2, "n_iter_max": 30}),
        Verb("scan", "lab.connectome.config:ScanConfig", "lab.connectome.pipeline:run_scan_verb",
             help="rank scan: error and factor similarity over random restarts",
             example={"source": "synthetic", "worm": {"neurons": 10, "communities": 2, "epochs": 2, "animals": 2,
                                                      "frames_per_epoch": 60}, "ranks": [1, 2], "restarts": 2,
                      "n_iter_max": 30}),
    ),
)
