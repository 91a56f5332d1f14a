-- A shadow answer whose guarded decision, reason and interventions are those of the live
-- decision it shadows is stored as `as_live`: `decision` NULL, `reason` and `interventions`
-- empty, and the readers take them from the live decision (`decision_id`). Its blocked
-- actions, fuel, duration and version are stored either way. A row with `as_live` false
-- holds all of its answer.
ALTER TABLE shadow_decisions ADD COLUMN as_live BOOLEAN NOT NULL DEFAULT false;
