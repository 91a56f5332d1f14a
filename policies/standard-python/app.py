"""The component's entry module: componentize-py wraps the ``Decider`` found here."""

from dunlin_policy import export

from standard import decide

Decider = export(decide)
