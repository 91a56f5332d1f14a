-- The partial index actions_pending (tenant_id, id) WHERE status = 'pending' was made for a
-- delivery worker reading the outbox in order. There is no delivery worker yet, no query
-- reads the index, and every recorded action paid for an entry in it: 5.5 % of the sweep
-- writer's instructions (callgrind, 20,000 invoices). Delivery adds the index its queue query
-- needs, when it has one.
DROP INDEX actions_pending;
