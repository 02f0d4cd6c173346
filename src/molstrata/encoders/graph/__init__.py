"""Graph adapters: Chemprop (and ADMET-AI), the built-in GIN, MiniMol, and the RDKit graph features
they share."""
