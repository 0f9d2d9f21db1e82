-- opkit-postgres schema, version 2: the refresh rotation grace window. A rotated token records
-- when it was rotated and how many grace reuses it was granted since. Tokens rotated before this
-- version have no rotation time and get no grace. Adding a column with a constant default
-- rewrites no rows.

ALTER TABLE refresh_tokens
    ADD COLUMN rotated_at TIMESTAMPTZ,
    ADD COLUMN reuses     INTEGER NOT NULL DEFAULT 0;
