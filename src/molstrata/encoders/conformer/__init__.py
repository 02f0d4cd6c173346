"""3D adapters: the shared conformer base, Uni-Mol v1 / Uni-Mol2, Orb v3 and Pos-EGNN."""
