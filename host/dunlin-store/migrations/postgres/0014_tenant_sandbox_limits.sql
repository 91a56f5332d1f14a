-- A tenant's own fuel, memory and deadline per decision (a JSON object; `{}` is the host's
-- defaults), checked against the operator's bounds whenever the tenant sets them.
ALTER TABLE tenants ADD COLUMN sandbox TEXT NOT NULL DEFAULT '{}';
