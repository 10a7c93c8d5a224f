"""Cross-run report (`python -m vssbench.report`, see __main__): the runs of an experiment as
figures, tables and computed findings.

One module per step: load (runs and ef curves from MLflow, fill-ins for old runs) -> summary
(medians per configuration, the table) -> findings (sentences) and figures -> render (the
files). columns names what a row holds; a new figure goes in figures, a new finding in findings.
"""
