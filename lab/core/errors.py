"""The one error type a person sees when their input is wrong."""


class LabInputError(ValueError):
    """A problem with user input, phrased as one sentence a person can act on.

    The message says what is wrong and what to do about it, for example
    ``"traces.csv has 3 frames; the window needs at least 20 - use a shorter --window."``.
    The UI shows it in an error box, the CLI prints it on stderr and exits with code 2.
    """
