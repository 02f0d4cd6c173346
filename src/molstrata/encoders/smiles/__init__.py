"""SMILES adapters: Hugging Face transformers (and the zoo's named models on them) and AnnaLog."""
