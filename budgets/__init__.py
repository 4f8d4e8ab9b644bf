"""budgets — performance budgets (DESIGN.md, docs/budgets.md).

spec (YAML -> `model` dataclasses, located errors), shorthand (k6 strings), selectors,
evaluate (the pure evaluator over `timeline`/`windows`), baseline (Mann-Whitney comparison),
verdict (the output model), schema (JSON Schema of budget files), reports (console, JSON,
JUnit XML, Markdown, HTML). Reads `collectors.model` only, never the store."""
