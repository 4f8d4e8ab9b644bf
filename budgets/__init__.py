"""budgets — performance budgets (DESIGN.md, docs/budgets.md).

spec (YAML -> `model` dataclasses, located errors), lhci (Lighthouse CI's budget.json -> the
same budgets), shorthand (k6 strings), selectors,
evaluate (the pure evaluator over `timeline`/`windows`), baseline (Mann-Whitney comparison),
verdict (the output model), schema (JSON Schema of budget files), reports (console, JSON,
JUnit XML, Markdown, HTML). Reads `collectors.model` (and the page series' names in
`collectors.browser.series`) only, never the store."""
