-- opkit-postgres schema, version 1.
-- Key columns use the "C" collation: byte order (the order opkit's in-memory store lists clients
-- in) whatever the database's locale, and cheaper comparisons.
-- Times are TIMESTAMPTZ (microseconds, rounded down from the exact value kept in each doc).

CREATE TABLE clients (
    id        TEXT COLLATE "C" PRIMARY KEY,
    client_id TEXT COLLATE "C" NOT NULL UNIQUE,
    revision  BIGINT NOT NULL,
    doc       TEXT NOT NULL
);

CREATE TABLE client_origins (
    origin    TEXT COLLATE "C" NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (origin, client_id)
);
CREATE INDEX client_origins_client_id ON client_origins (client_id);

CREATE TABLE grants (
    id         TEXT COLLATE "C" PRIMARY KEY,
    client_id  TEXT COLLATE "C" NOT NULL,
    subject    TEXT COLLATE "C",
    doc        TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked    BOOLEAN NOT NULL
);
CREATE INDEX grants_client_subject ON grants (client_id, subject);
CREATE INDEX grants_expires_at ON grants (expires_at);

CREATE TABLE codes (
    hash       BYTEA PRIMARY KEY,
    grant_id   TEXT COLLATE "C" NOT NULL,
    doc        TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    redeemed   BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE refresh_tokens (
    hash       BYTEA PRIMARY KEY,
    grant_id   TEXT COLLATE "C" NOT NULL,
    doc        TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    rotated    BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE consents (
    subject   TEXT COLLATE "C" NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL,
    doc       TEXT NOT NULL,
    PRIMARY KEY (subject, client_id)
);

CREATE TABLE revoked_access_tokens (
    jti        TEXT COLLATE "C" PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);

CREATE TABLE users (
    username      TEXT COLLATE "C" PRIMARY KEY,
    subject       TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    claims        TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid          TEXT COLLATE "C" PRIMARY KEY,
    alg          TEXT COLLATE "C" NOT NULL,
    generation   BIGINT NOT NULL,
    private_key  BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    activates_at TIMESTAMPTZ NOT NULL,
    UNIQUE (alg, generation)
);

CREATE TABLE kit_sessions (
    id         BYTEA PRIMARY KEY,
    doc        TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX kit_sessions_expires_at ON kit_sessions (expires_at);

CREATE TABLE kit_pending (
    id         BYTEA PRIMARY KEY,
    doc        TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX kit_pending_expires_at ON kit_pending (expires_at);
