"""The lake's Delta tables through three readers nobody here wrote: the
`deltalake` package, Polars `scan_delta`, and DuckDB `delta_scan` (its
extension loaded from the `duckdb-extension-delta` package: it cannot be
downloaded here)."""
import pathlib

import pyarrow  # noqa: F401  (before polars: see conftest.py)
import deltalake
import duckdb
import duckdb_extension_delta
import polars as pl

READERS = ("deltalake", "polars", "duckdb")


def table_path(lake, table):
    return str(pathlib.Path(lake) / "lake" / table)


def tables(lake):
    """Names of the Delta tables in a lake directory."""
    root = pathlib.Path(lake) / "lake"
    return sorted(p.name for p in root.iterdir() if (p / "_delta_log").is_dir())


def duckdb_connection():
    """A DuckDB connection with the delta extension loaded from its package."""
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    package = pathlib.Path(duckdb_extension_delta.__file__).parent
    [extension] = package.glob(f"extensions/v{duckdb.__version__}/delta.duckdb_extension")
    con.execute(f"LOAD '{extension}'")
    return con


def arrow_table(lake, table, version=None):
    """The rows of a table (at `version`, or its newest) with the deltalake package."""
    return deltalake.DeltaTable(table_path(lake, table), version=version).to_pyarrow_table()


def polars_frame(lake, table, version=None):
    return pl.scan_delta(table_path(lake, table), version=version).collect()


def versions(lake, table):
    return deltalake.DeltaTable(table_path(lake, table)).version()


def summary(lake, table, reader, column=None, version=None, con=None):
    """(row count, sum of `column` or None) of a table through one reader."""
    if reader == "deltalake":
        t = arrow_table(lake, table, version)
        total = None
        if column:
            import pyarrow.compute as pc
            total = pc.sum(t.column(column)).as_py()
        return t.num_rows, _number(total)
    if reader == "polars":
        f = polars_frame(lake, table, version)
        return f.height, _number(f[column].sum() if column else None)
    if reader == "duckdb":
        assert version is None, "DuckDB reads the newest version"
        con = con or duckdb_connection()
        select = f"count(*), sum({column})" if column else "count(*), NULL"
        count, total = con.execute(f"SELECT {select} FROM delta_scan('{table_path(lake, table)}')").fetchone()
        return count, _number(total)
    raise ValueError(reader)


def _number(value):
    if value is None:
        return None
    return round(float(value), 6)
