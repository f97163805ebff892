"""The ground floor: riskwatch's shared vocabulary, importing nothing else of the project.

Settings, the model registry, log setup, the event and feedback models (with their JSON
Schemas), the risk taxonomy, what detectors observe and signal, and the Finding record. Every
other package may import from here; this package imports only the standard library and
third-party packages.
"""
