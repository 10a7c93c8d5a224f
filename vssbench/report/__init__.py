"""Cross-run report (`python -m vssbench.report`, see __main__): the runs of an experiment as
figures, tables and computed findings.

One module per step: load (runs and ef curves from MLflow, fill-ins for old runs) -> summary
(medians and intervals per configuration, the table) -> findings and peers (sentences that
claim only differences whose intervals do not overlap: overlap), factors (which setting
explains the variation) and the figures -> render (the files). columns names what a row holds;
style is what figures share. A new figure goes in figures (or a module of its own: frontier,
costs, latency), a new finding in findings (or peers, when it compares engines).
"""
