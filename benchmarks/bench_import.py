"""Import: reading a 100,000-row Seller Center orders export as CSV (and a 5,000-row one as
XLSX) against the bare readers over the same file, and resident memory at 10,000 and 100,000
rows.

The file is the orders sample's 40 rows (header and description row included) repeated with
new order ids over the sample's week. kpibot's path is :func:`kpi.platform.read.read_rows` +
:func:`kpi.platform.parse.find_header` + :func:`kpi.platform.parse.iter_records`: decoding,
header detection, every needed cell parsed and checked (ids, amounts, times in the deal's zone,
currency). The baselines are a bare ``csv.DictReader`` over the decoded text, and a bare
openpyxl read-only ``iter_rows(values_only=True)``. Each read is timed in CPU time of the
process (the machine is shared; wall time would measure the other processes too), kpibot's
and the bare reader's alternately, the order flipped every repetition (``benchmarks/spread.py``).
The aim: a ratio (bare time / kpibot time) of at least 0.5, judged on the median of the
repetitions. XLSX is read at a twentieth of the CSV's rows: openpyxl takes some 0.35 ms a row,
and repeating a 100,000-row read both ways would take ten minutes; the ratio is per row either
way.

A 100,000-row orders export is 23 MB as CSV, beyond the import's 20 MB limit; the limits are
lifted here to measure the reader itself.

Memory (reported, no aim): the peak resident size (``VmHWM``) of a fresh process that reads
the CSV (streaming, as the parser runs), at a tenth of the rows and at all of them; then of one
that also keeps the records, as ``load_export`` does before storing (the whole file is checked
before anything is stored).

Run: ``python benchmarks/bench_import.py [--rows 100000] [--reps 7]``. ``QUICK=1``: 5,000
rows (100 as XLSX), 5 repetitions, no memory figures.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import spread  # noqa: E402
from kpi.platform.parse import ExportTerms, find_header, iter_records, load_export  # noqa: E402
from kpi.platform.read import Limits, read_rows  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "tiktok-shop" / "orders-2026-11-02_2026-11-08.csv"
TERMS = ExportTerms("USD", "America/Los_Angeles", dt.date(2026, 11, 1))
AIM = 0.5  # bare time / kpibot time, at least
NO_LIMITS = Limits(max_bytes=10**10, max_expanded=10**11, max_cells=10**9)


def make_rows(count: int) -> list[list[str]]:
    """The sample's header, description row and ``count`` orders with unique ids."""
    rows = list(csv.reader(io.StringIO(SAMPLE.read_text(encoding="utf-8-sig"), newline="")))
    header, description, body = rows[0], rows[1], rows[2:]
    out = [header, description]
    for i in range(count):
        row = list(body[i % len(body)])
        row[0] = str(577000000000000000 + i)
        out.append(row)
    return out


def write_files(folder: Path, count: int, *, xlsx: bool) -> tuple[Path, Path]:
    """The CSV (UTF-8 with BOM, as Seller Center writes it) of ``count`` orders, and with
    ``xlsx`` the XLSX too (else its path is returned unwritten)."""
    import openpyxl

    rows = make_rows(count)
    csv_path = folder / f"orders-{count}.csv"
    with csv_path.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows(rows)
    xlsx_path = folder / f"orders-{count}.xlsx"
    if not xlsx:
        return csv_path, xlsx_path
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        sheet.append(row)
    book.save(xlsx_path)
    return csv_path, xlsx_path


def ours(data: bytes) -> int:
    """kpibot's streaming read: every record parsed and checked."""
    rows = read_rows(data, "bench", NO_LIMITS)
    header = find_header(rows, "bench", None, {})
    return sum(1 for _ in iter_records(rows, header, TERMS, "bench"))


def bare_csv(data: bytes) -> int:
    return sum(1 for _ in csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def bare_xlsx(data: bytes) -> int:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        return sum(1 for _ in book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()


def cpu_seconds(work: Callable[[bytes], int], data: bytes) -> float:
    """One read, in CPU time of this process."""
    start = time.process_time()
    work(data)
    return time.process_time() - start


def _high_water_kib() -> int:
    """This process's peak resident size: ``VmHWM`` (``ru_maxrss`` would include the parent's,
    which Linux carries across ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(path: str, keep: bool) -> None:
    """Read one file in this fresh process and print its peak resident size (KiB)."""
    data = Path(path).read_bytes()
    kept = load_export(data, "bench", TERMS, limits=NO_LIMITS).records if keep else None
    count = len(kept) if kept is not None else ours(data)
    peak = _high_water_kib()
    print(json.dumps({"records": count, "max_rss_kib": peak, "file_bytes": len(data)}))


def rss(path: Path, keep: bool) -> dict[str, int]:
    args = [sys.executable, __file__, "--child", str(path)] + (["--keep"] if keep else [])
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def size(count: int) -> str:
    """``2.1 MB``, or ``41 kB`` under a megabyte."""
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"


def read_row(
    label: str, path: Path, bare: Callable[[bytes], int], reps: int
) -> tuple[str, bool]:
    """Time kpibot's read and the bare reader's alternately; the table row, and whether the
    median ratio met the aim."""
    data = path.read_bytes()
    rows = ours(data)
    assert bare(data) >= rows
    mine, base = spread.alternate_sync(
        reps, (lambda i: cpu_seconds(ours, data), lambda i: cpu_seconds(bare, data))
    )
    ratio = spread.ratios(base, mine)
    cell = spread.goal(f"{label} read, {rows:,} rows: bare / kpibot", ratio, AIM)
    rate = rows / statistics.median(mine)
    row = (
        f"| {label} ({rows:,} rows, {size(len(data))}) "
        f"| {spread.Spread.of(mine).text(2, count=False)} "
        f"| {spread.Spread.of(base).text(2, count=False)} | {rate:,.0f} | {cell} |"
    )
    return row, ratio.median >= AIM


def memory_rows(big_csv: Path, small_csv: Path) -> list[str]:
    """Peak RSS of fresh processes reading the small and the big CSV, streaming and keeping."""
    rows = []
    for keep in (False, True):
        small, big = rss(small_csv, keep), rss(big_csv, keep)
        what = "keeps every record (load_export)" if keep else "streaming (iter_records)"
        rows.append(f"| CSV, {what} | {small['max_rss_kib'] / 1024:.0f} MiB "
                    f"({small['records']:,}) | {big['max_rss_kib'] / 1024:.0f} MiB "
                    f"({big['records']:,}) |")  # fmt: skip
    return rows


def main() -> int:
    quick = spread.quick()
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000 if quick else 100_000)
    parser.add_argument("--reps", type=int, default=spread.reps())
    parser.add_argument("--child")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.keep)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        big_csv, _ = write_files(Path(folder), args.rows, xlsx=False)
        small_csv, _ = write_files(Path(folder), args.rows // 10, xlsx=False)
        _, xlsx = write_files(Path(folder), args.rows // (50 if quick else 20), xlsx=True)
        print(
            f"A {args.rows:,}-row orders export; CPU time of one read, median (min–max) of "
            f"{args.reps} interleaved repetitions.\n"
        )
        print(f"| file | kpibot (s) | bare reader (s) | kpibot rows/s "
              f"| ratio bare / kpibot (aim ≥ {AIM:g}) |")  # fmt: skip
        print("|---|---|---|---|---|")
        met = True
        for label, path, bare in (("CSV", big_csv, bare_csv), ("XLSX", xlsx, bare_xlsx)):
            row, ok = read_row(label, path, bare, args.reps)
            print(row, flush=True)
            met = met and ok
        if quick:
            print("\nPeak RSS: in the full run only (`QUICK=1` skips it).")
        else:
            print("\n| peak RSS (fresh process) | 10% rows | all rows |")
            print("|---|---|---|")
            print("\n".join(memory_rows(big_csv, small_csv)))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
