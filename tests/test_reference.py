"""The docs site's reference pages: up to date with the code, complete, and naming every metric a
real run logs."""

from omegaconf import OmegaConf

from vssbench.config import schema
from vssbench.measure import definitions
from vssbench.reference.__main__ import main
from vssbench.reference.pages import pages, setting_rows


def test_the_generated_pages_are_those_in_docs(capsys):
    code = main(["--check"])
    assert code == 0, capsys.readouterr().err


def test_a_stale_page_is_named_with_the_command_that_remakes_it(tmp_path, capsys):
    assert main(["--docs", str(tmp_path)]) == 0
    page = tmp_path / "reference" / "engines.md"
    page.write_text(page.read_text() + "edited by hand\n")
    assert main(["--check", "--docs", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == (
        "reference/engines.md is out of date: run `uv run python -m vssbench.reference`"
    )


def _leaves(node: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in node.items():
        if isinstance(value, dict):
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out.add(f"{prefix}{key}")
    return out


def test_every_setting_is_on_the_page_once_with_a_description():
    rows = [row for section in setting_rows().values() for row in section]
    documented = [setting for setting, *_ in rows]
    assert len(documented) == len(set(documented))
    assert set(documented) == _leaves(OmegaConf.to_container(OmegaConf.structured(schema.Config)))
    assert [s for s, _, _, about in rows if not about.strip()] == []
    page = pages()["reference/configuration.md"]
    assert all(f"| `{setting}` |" in page for setting in documented)


def test_every_metric_definition_says_what_it_is():
    assert all(m.about for m in definitions.METRICS)
    assert all(doc.about for doc in definitions.FURTHER)
