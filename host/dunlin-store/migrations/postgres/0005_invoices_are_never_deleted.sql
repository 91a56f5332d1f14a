-- Invoices are never deleted: paid, void and written off are statuses. The SQLite schema
-- refuses the delete because the sweep's writer there trusts an invoice it has read; this
-- keeps the two schemas' rules the same.
CREATE FUNCTION refuse_invoice_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoices are never deleted: void or write them off instead';
END
$$;

CREATE TRIGGER invoices_are_never_deleted BEFORE DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION refuse_invoice_delete();
CREATE TRIGGER invoices_are_never_truncated BEFORE TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_invoice_delete();
