"""Policies: the risk taxonomy and the rules that turn detector signals into findings."""
