"""alerts — budget violations routed to on-call channels (DESIGN.md, docs/alerts.md).

Deciding (pure): model (alert inputs, evidence, dedup keys, notifications), state (inactive /
pending / firing / nodata / resolved), routing, grouping, silences (matching), inhibit, mute,
pipeline (one tick of all of them). Config: config, channel_config, secrets, yamlnodes.
I/O at the edges: channels (one module per service), outbox (the durable outbox, ordered per
receiver and group by ordering), delivery (its worker), db (the alert tables of the store, on
SQLite or PostgreSQL), silences (storage), metrics, engine (what a monitor embeds).
Adapters: from_verdicts (budgets' verdicts), rules (standalone rules via the budgets
evaluator)."""
