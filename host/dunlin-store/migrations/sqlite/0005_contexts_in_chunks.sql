-- A sweep compresses the contexts of a run of decisions (up to 64) together, into one row
-- here, instead of one zstd frame per decision: zstd sets up its entropy tables once per
-- frame, which was half the cost of compressing a lone context, and the contexts of a run
-- share most of their text (src/codec.rs, docs/benchmarks.md).
--
-- A decision whose context is in a chunk holds X'02' in `context` and names the chunk and
-- its line in the two new columns; decisions written before keep their own frame in
-- `context` and no chunk. There is no foreign key from decisions to chunks: the only chunks
-- ever deleted are those a batch inserted and then found no new decision for (every one of
-- its decisions was recorded before), in the same transaction, and with a foreign key each
-- such delete would scan the decisions for references.
CREATE TABLE context_chunks (
    id         INTEGER PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    frame      BLOB NOT NULL    -- tag byte + zstd frame of the contexts' JSON, one per line
);

ALTER TABLE decisions ADD COLUMN context_chunk INTEGER;
ALTER TABLE decisions ADD COLUMN context_line INTEGER;
