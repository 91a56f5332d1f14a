-- The ledger's clock. Every ledger write (invoices, payments, disputes, payment plans) takes
-- its tenant's next `seq` here first and stamps each invoice it touches with it in
-- `ledger_stamps`. A sweep notes the `seq` before it reads a page; recording drops an
-- outcome whose invoice was stamped later, as its decision was made on a ledger that has
-- changed since. An invoice without a stamp has not changed since this migration.
CREATE TABLE ledger_clock (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants (id),
    seq        INTEGER NOT NULL
);
INSERT INTO ledger_clock (tenant_id, seq) SELECT id, 0 FROM tenants;

CREATE TABLE ledger_stamps (
    tenant_id   TEXT NOT NULL,
    invoice_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id),
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
);
