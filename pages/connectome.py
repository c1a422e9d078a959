"""The connectome lab's page (not built yet: it says so plainly)."""

from app import ui

ui.not_built("connectome")
