-- opkit-sqlite schema version 1. Times are INTEGER unix microseconds (rounded down); each JSON
-- document keeps the exact value. Hash-keyed tables are WITHOUT ROWID (the key is the row).

CREATE TABLE clients (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL UNIQUE,
    revision INTEGER NOT NULL,
    doc TEXT NOT NULL
) STRICT;

-- Follows its client: deleted with it, renamed with it.
CREATE TABLE client_origins (
    origin TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY (origin, client_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX client_origins_client_id ON client_origins (client_id);

CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT,
    doc TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL
) STRICT;
CREATE INDEX grants_client_subject ON grants (client_id, subject);
CREATE INDEX grants_expires_at ON grants (expires_at);

CREATE TABLE codes (
    hash BLOB PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    redeemed INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE refresh_tokens (
    hash BLOB PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE consents (
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (subject, client_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);

CREATE TABLE users (
    username TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    claims TEXT NOT NULL
) STRICT;

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    generation INTEGER NOT NULL,
    private_key BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    activates_at INTEGER NOT NULL,
    UNIQUE (alg, generation)
) STRICT;

CREATE TABLE kit_sessions (
    id BLOB PRIMARY KEY NOT NULL,
    doc TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX kit_sessions_expires_at ON kit_sessions (expires_at);

CREATE TABLE kit_pending (
    id BLOB PRIMARY KEY NOT NULL,
    doc TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX kit_pending_expires_at ON kit_pending (expires_at);
