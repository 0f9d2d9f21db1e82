-- opkit-sqlite schema version 2: the refresh rotation grace window. A rotated token records when
-- it was rotated (unix microseconds, like every time here) and how many grace reuses it was
-- granted since. Tokens rotated before this version have no rotation time and get no grace.

ALTER TABLE refresh_tokens ADD COLUMN rotated_at INTEGER;
ALTER TABLE refresh_tokens ADD COLUMN reuses INTEGER NOT NULL DEFAULT 0;
