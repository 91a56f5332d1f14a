-- The sweep's batch writer is the only code that inserts decisions, actions and dunning
-- states, and it keeps to these three keys itself: it looks the batch's invoices up once
-- (those no receipt of its store vouches for; invoices are never deleted, migration 5), and
-- writes an action or a state only for a decision it inserted in the same transaction.
-- Checked by PostgreSQL, each key cost a trigger per row that looked the parent up and locked
-- its row: 100,000 rows of each table took 9.9 s with the three checks and 5.8 s without
-- (docs/benchmarks.md#postgresql-sweep). The SQLite schema declares the same keys, and its
-- writer does not enforce them either (src/sqlite/direct.rs).
ALTER TABLE decisions DROP CONSTRAINT decisions_tenant_id_invoice_id_fkey;
ALTER TABLE actions DROP CONSTRAINT actions_decision;
ALTER TABLE dunning_state DROP CONSTRAINT dunning_state_tenant_id_invoice_id_fkey;
