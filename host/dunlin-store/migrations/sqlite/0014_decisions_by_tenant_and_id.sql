-- The decision log read a page at a time in id order (the API's lists, backtest, replay, the
-- shadow report). Without this index SQLite's planner, which has no statistics, reads every
-- decision of the tenant through the (tenant, invoice, as-of) key and sorts them all for each
-- page: 356 ms for a first page of 100 among 1M decisions
-- (docs/benchmarks.md#decision-log-and-shadow). Reads by invoice or customer keep the key:
-- they order by `+id`, which this index cannot serve.
CREATE INDEX decisions_by_tenant_and_id ON decisions (tenant_id, id);
