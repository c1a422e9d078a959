"""Routing & early exits: which inputs and tokens get how much compute (not built yet: no verbs)."""

from lab.core.labs import LabSpec

LAB = LabSpec(
    key="routing",
    title="Routing & early exits",
    question="Which inputs and tokens get how much compute, and what does that buy?",
    papers=("Teerapittayanon et al. 2016, BranchyNet", "JEI-DNN", "Dynamic Confidence", "Duo-LLM small/big/skip routes"),
    icon=":material/alt_route:",
    page="pages/routing.py",
    order=20,
)
