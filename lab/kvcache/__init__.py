"""KV-cache physics: what compression does to attention routing (not built yet: no verbs)."""

from lab.core.labs import LabSpec

LAB = LabSpec(
    key="kvcache",
    title="KV-cache physics",
    question="What happens to attention routing when the KV cache is compressed, and where is the cliff?",
    papers=("Physics of KV-cache compression (2026)", "Meta-Soft attention flow"),
    icon=":material/memory:",
    page="pages/kvcache.py",
    order=40,
)
