"""Names of the result datasets that are not a template's or a network's, shared by results.py (which writes them)
and by plot.py and report_html.py (which read them): no imports, so `mgdsl plot` and `mgdsl report` start without
the modelling stack (tests/test_imports.py)."""
from __future__ import annotations

# Beside one dataset per device template and one per network, named as in the .mgd:
# the tie lines over (microgrid, t): `import` (kW) and, where a tie carries Q, `reactive_import` (kvar);
# the switches over (switch, t): `flow` (kW), `closed` (0/1) and, where one carries Q, `q` (kvar).
TIES = "ties"
SWITCHES = "switches"
