-- Invoices are never deleted: paid, void and written off are statuses. The sweep's writer
-- records a decision for an invoice it holds a receipt for without looking the invoice up
-- again, on connections that do not enforce foreign keys (src/sqlite/direct.rs), so a
-- deleted invoice could leave decisions, actions and states that name nothing. The schema
-- refuses the delete, whoever asks.
CREATE TRIGGER invoices_are_never_deleted BEFORE DELETE ON invoices
BEGIN
    SELECT RAISE(ABORT, 'invoices are never deleted: void or write them off instead');
END;
