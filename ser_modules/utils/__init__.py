"""Layer 0, helpers without project imports: atomic files and NaN-safe JSON, constants, plotting
canvas."""
