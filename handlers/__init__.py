"""One module per command family: parse the arguments, call kpi, build a reply."""
