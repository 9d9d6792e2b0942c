"""Data selection: AlpaGasus ratings, Deita scores and selection, IFD."""
