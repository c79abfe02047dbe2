"""python3 -m analysis RUN... [--out DIR]: every figure and table the inputs allow, and
summary.md linking them. Bad input: one line on stderr naming the file, exit status 2."""
import argparse
import datetime
import os
import subprocess
import sys

from .ncfiles import AnalysisError
from .runs import load

USAGE_EPILOG = """inputs: run folders of `adaptor pretrain` / `adaptor eval` (metrics.nc, eval.nc,
embeddings.nc; eval.nc files with a `task` attribute in the folder or its sub-folders are
downstream results), or downstream eval.nc files named directly.

outputs (in --out): training_step.png, training_epoch.png (loss total / i2t / t2i and
learning rate), throughput.png (all ranks and per rank), validation.png (eval group of
metrics.nc, if any), rank_times.png ([step, rank] times, if recorded),
embeddings_<split>.png (eval's PCA, pca-<split>-*.nc, of the image embeddings before /
after the Adaptor), segment_overlays.png (captioned overlays of `adaptor segment`), each
with a .csv of the plotted points; retrieval, zeroshot, downstream_<task> tables as .md
and .csv, downstream_all.csv, summary.md (with the date and the commits)."""


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python3 -m analysis", epilog=USAGE_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Figures and tables from adaptor run folders.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder or downstream eval.nc")
    p.add_argument("--out", default="analysis-out", help="output folder (default: analysis-out)")
    p.add_argument("--split", default="test",
                   help="evaluation split for tables and maps (default: test)")
    p.add_argument("--tsne", action="store_true", help="add t-SNE maps beside the PCA ones")
    return p.parse_args(argv)


def run(args):
    runs = load(args.runs)
    # Plotting libraries load only for good input (bad input fails fast).
    from . import figures, tables
    os.makedirs(args.out, exist_ok=True)
    written, notes = [], []
    figures.assign_colours(runs)
    trained = [r for r in runs if r.metrics is not None]
    if trained:
        for against in ("step", "epoch"):
            written += figures.save(figures.training_curves(trained, against), args.out,
                                    f"training_{against}")
        written += figures.save(figures.throughput(trained), args.out, "throughput")
        for stem, fig in (("validation", figures.validation(trained)),
                          ("rank_times", figures.rank_times(trained))):
            if fig is not None:
                written += figures.save(fig, args.out, stem)
        if not any(r.metrics.per_rank for r in trained):
            notes.append("no per-rank [step, rank] times in any metrics.nc: rank_times.png skipped")
        fig, n = figures.embedding_maps(trained, args.split, args.tsne)
        notes += n
        if fig is not None:
            written += figures.save(fig, args.out, f"embeddings_{args.split}")
    fig = figures.segment_overlays(runs)
    if fig is not None:
        written += figures.save(fig, args.out, "segment_overlays")
    md = []
    t_ret, t_zs = tables.encoder_tables(runs, args.split)
    down, long_rows = tables.downstream_tables(runs, args.split)
    for t in [t_ret, t_zs] + down:
        if t.rows:
            written += tables.write(t, args.out)
            md.append(tables.markdown(t))
    notes += t_ret.notes
    if long_rows:
        written += tables.write_long(long_rows, args.out)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write("# adaptor runs: " + ", ".join(r.name for r in runs) + "\n\n")
        f.write(f"Written {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC by "
                f"`python3 -m analysis` ({analysis_commit()}).\n\n")
        for r in runs:
            f.write(f"- {r.name}: {r.path} (written by adaptor {r.version or 'of unknown version'})\n")
        f.write("\n")
        for p in written:
            if p.endswith(".png"):
                f.write(f"![{os.path.basename(p)}]({os.path.basename(p)})\n\n")
        f.write("\n".join(md))
        if notes:
            f.write("\nNotes:\n\n" + "".join(f"- {n}\n" for n in notes))
    for n in notes:
        print(f"analysis: note: {n}", file=sys.stderr)
    print(f"analysis: {len(written) + 1} files written to {args.out}", file=sys.stderr)
    return 0


def analysis_commit():
    """The git commit of this analysis code, when it runs from a checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        p = subprocess.run(["git", "-C", here, "rev-parse", "--short=12", "HEAD"],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        p = None
    if p is not None and p.returncode == 0 and p.stdout.strip():
        return f"analysis code at git commit {p.stdout.strip()}"
    return "analysis code installed, outside a git checkout"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except AnalysisError as e:
        print(f"analysis: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the output folder
        print(f"analysis: error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
