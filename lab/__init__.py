"""Dynamic Networks Lab: the science behind the app and the ``dynlab`` command.

Nothing under ``lab/`` imports streamlit; the app in ``app/`` and ``pages/`` is a thin shell over it.
"""

__version__ = "0.1.0"
