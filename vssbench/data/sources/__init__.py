"""The user's files a run can read (`parquet`, `hdf5`), beside the built-in synthetic corpus."""

from vssbench.data.sources import hdf5, parquet
from vssbench.data.sources.files import Tables


def read(spec_files: dict) -> Tables:
    if spec_files["name"] == "parquet":
        return parquet.read(
            spec_files["docs"], spec_files["queries"], parquet.Columns(**spec_files["columns"])
        )
    return hdf5.read(spec_files["path"])
