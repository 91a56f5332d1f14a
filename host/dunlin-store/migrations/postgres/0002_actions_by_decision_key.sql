-- Actions name their decision by its key (tenant, invoice, as-of) instead of its row id, so a
-- sweep writes a page of decisions and their actions without reading ids back. The unique key
-- (tenant, invoice, as-of, ordinal) also serves the history lookups by invoice, so the
-- separate index on (tenant, invoice) goes. Keep in step with migrations/sqlite.
ALTER TABLE actions DROP COLUMN decision_id;
ALTER TABLE actions ADD CONSTRAINT actions_decision_ordinal
    UNIQUE (tenant_id, invoice_id, as_of, ordinal);
ALTER TABLE actions ADD CONSTRAINT actions_decision
    FOREIGN KEY (tenant_id, invoice_id, as_of) REFERENCES decisions (tenant_id, invoice_id, as_of);
DROP INDEX actions_invoice;
