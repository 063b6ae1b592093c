"""Studies: repeated solves of one built model, changing only numbers between solves (bounds, costs, right-hand
sides), each returning a dataclass of xarray Datasets and never printing: the epsilon-constraint Pareto front
(pareto.py) and information-gap decision theory (igdt.py). docs/studies.md has the mathematics."""
