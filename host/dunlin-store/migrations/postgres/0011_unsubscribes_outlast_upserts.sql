-- The channels a customer unsubscribed from by the one-click link in an email (RFC 8058), a
-- JSON array. They are the customer's own choice: a tenant's customer upsert sets
-- `opted_out` from its billing system, and the store adds these back, so `opted_out`
-- always includes them.
ALTER TABLE customers ADD COLUMN unsubscribed TEXT NOT NULL DEFAULT '[]';
