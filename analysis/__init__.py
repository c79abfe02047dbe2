"""Offline analysis of adaptor run folders: figures (PNG, with the plotted data as CSV
beside each) and tables (markdown and CSV) from metrics.nc, eval.nc and embeddings.nc.

    python3 -m analysis RUN_DIR_OR_EVAL_NC... [--out DIR] [--split test] [--tsne]

Needs numpy, netCDF4, matplotlib and scikit-learn (Debian: python3-numpy, python3-netcdf4,
python3-matplotlib, python3-sklearn)."""
