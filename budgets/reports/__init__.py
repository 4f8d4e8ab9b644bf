"""Reports of one evaluation: console (rich), JSON, JUnit XML, Markdown and HTML. Each module
turns a `Report` into text; writing files is the caller's business (the CLI)."""

from budgets.reports.report import SCHEMA_VERSION, Report, build_report

__all__ = ["SCHEMA_VERSION", "Report", "build_report"]
