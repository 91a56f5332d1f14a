"""The component's entry module: componentize-py wraps the ``Decider`` found here.

``dunlin policy build .`` builds it; keep the rules in ``rules.py`` so tests import them
without the component's bindings.
"""

from dunlin_policy import export

from rules import decide

Decider = export(decide)
