"""The user's files a run can read (dataset=<source>), beside the built-in synthetic corpus: the
files each source takes, its own settings, and what it can hold. Light on purpose, as
engines/registry.py is: the schema imports it to build dataset.*, so it imports no reader
(pyarrow, h5py); a source's module is imported when its files are checked or read.

A source's module, vssbench.data.sources.<module>, has `check(source, search, filter_column)`,
which reads only the files' headers and returns their sizes (files.Checked), and
`read(source)`, which reads and checks everything (files.Tables); both raise a one-line
files.DataFileError naming the file."""

import importlib
from dataclasses import MISSING, Field, dataclass, field, fields
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vssbench.data.sources.files import Checked, FileSource, Tables


@dataclass  # not frozen: it is the schema's dataset.columns, which overrides change
class Columns:
    """dataset=parquet: the columns read; null leaves an optional one out."""

    id: str = "id"  # documents' unique ids
    vector: str = "vector"  # documents' vectors (lists of floats, one dim)
    text: str | None = None  # documents' text: BM25 and hybrid search need it
    query_vector: str = "vector"  # queries' vectors
    query_text: str | None = None  # queries' text: hybrid search needs it
    relevant: str | None = None  # per query, a list of relevant document ids: MRR and nDCG
    grades: str | None = None  # per query, a grade per relevant id (default 1 each)
    kind: str | None = None  # per query, a kind the label metrics are also broken down by


@dataclass(frozen=True)
class NoSettings:
    """A source that needs nothing but its files."""


@dataclass(frozen=True)
class ParquetSettings:
    columns: Columns = field(default_factory=Columns)


@dataclass(frozen=True)
class BeirSettings:
    split: str = "test"  # the labels read, qrels/<split>.tsv, and the queries they name


@dataclass(frozen=True)
class SourceInfo:
    module: str  # vssbench.data.sources.<module> has its check() and read()
    # Its files, each set as dataset.<role>; the first names the run where a synthetic run
    # names its scale, and the file the dim and metric checks name.
    roles: tuple[str, ...]
    # Its settings dataclass: dataset.<field> sets one. They say how the files are read, so
    # they name the content together with the files' hashes (cache keys, fingerprints).
    settings: type = NoSettings
    # The role of the file that ships each query's exact neighbours, checked before use.
    neighbors: str | None = None
    # Files or dirs it reads when they are set (dataset.<role>), known by content as the roles.
    optional_roles: tuple[str, ...] = ()
    # Has text and may have no vectors of its own: embed=model can encode it.
    encodable: bool = False
    # What a role names, where "path of the file" does not say it (the configuration page).
    role_about: dict[str, str] = field(default_factory=dict)


SOURCES: dict[str, SourceInfo] = {
    # A documents file and a queries file, with the columns named in dataset.columns.
    "parquet": SourceInfo("parquet", ("docs", "queries"), ParquetSettings),
    # The ann-benchmarks format (also VIBE's): train, test, neighbors and distances in one file.
    "hdf5": SourceInfo("hdf5", ("path",), neighbors="path"),
    # A BEIR-layout dir (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); its vectors from
    # dataset.vectors (a dir of corpus.parquet and queries.parquet), DIR/vectors/, or embed=model.
    "beir": SourceInfo(
        "beir",
        ("path",),
        BeirSettings,
        optional_roles=("vectors",),
        encodable=True,
        role_about={
            "path": "the BEIR dir (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)",
            "vectors": "a dir of corpus.parquet and queries.parquet (columns id and vector); "
            "null: the BEIR dir's vectors/ if it has one, else embed=model",
        },
    ),
}


def _dataset_fields() -> dict[str, tuple[object, Field]]:
    """dataset.<name> for every source's files (unset until given) and settings, each name once:
    dataset.* in the schema is their union, so a name two sources share must mean one thing."""
    union: dict[str, tuple[object, Field]] = {}
    for info in SOURCES.values():
        for role in (*info.roles, *info.optional_roles):
            union.setdefault(role, (str | None, field(default=None)))
        for setting in fields(info.settings):
            made = (
                field(default=setting.default)
                if setting.default is not MISSING
                else field(default_factory=setting.default_factory)
            )
            union.setdefault(setting.name, (setting.type, made))
    return union


DATASET_FIELDS = _dataset_fields()


def source_module(kind: str) -> ModuleType:
    return importlib.import_module(f"vssbench.data.sources.{SOURCES[kind].module}")


def check(source: "FileSource", search: str, filter_column: str | None) -> "Checked":
    """The files' sizes from their headers, once they hold what the search and filter need."""
    return source_module(source.kind).check(source, search, filter_column)


def read(source: "FileSource") -> "Tables":
    return source_module(source.kind).read(source)
