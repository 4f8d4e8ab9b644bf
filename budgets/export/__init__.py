"""Budgets as production alerting rules: Prometheus recording and (burn-rate) alerting rules,
Azure Monitor scheduled query rules and a workbook. Pure builders from the budget model to
plain data; the CLI (`castiel budgets export`) writes the files. docs/oncall.md explains what
is and is not expressible."""
