//! The statements on the hot path, named, so the query-plan test checks the very text the
//! store runs (`EXPLAIN QUERY PLAN`: each one searches an index, none scans a table).

pub(crate) const CLIENT_BY_CLIENT_ID: &str = "SELECT doc FROM clients WHERE client_id = ?1";
pub(crate) const CLIENT_BY_ID: &str = "SELECT doc FROM clients WHERE id = ?1";
pub(crate) const ORIGIN_ALLOWED: &str = "SELECT 1 FROM client_origins WHERE origin = ?1";
pub(crate) const GRANT_BY_ID: &str = "SELECT doc, revoked FROM grants WHERE id = ?1";
pub(crate) const REVOKE_GRANT: &str = "UPDATE grants SET revoked = 1 WHERE id = ?1";
pub(crate) const REVOKE_SUBJECT_GRANTS: &str =
    "UPDATE grants SET revoked = 1 WHERE client_id = ?1 AND subject = ?2 AND NOT revoked";
pub(crate) const REVOKE_CLIENT_GRANTS: &str =
    "UPDATE grants SET revoked = 1 WHERE client_id = ?1 AND NOT revoked";
pub(crate) const REDEEM_CODE: &str =
    "UPDATE codes SET redeemed = 1 WHERE hash = ?1 AND NOT redeemed RETURNING doc";
pub(crate) const CODE_GRANT: &str = "SELECT grant_id FROM codes WHERE hash = ?1";
pub(crate) const REFRESH_LOOKUP: &str = "SELECT doc, rotated FROM refresh_tokens WHERE hash = ?1";
pub(crate) const ROTATE_REFRESH: &str = "UPDATE refresh_tokens SET rotated = 1, rotated_at = ?2 \
     WHERE hash = ?1 AND NOT rotated RETURNING grant_id";
pub(crate) const REUSE_REFRESH: &str = "UPDATE refresh_tokens SET reuses = reuses + 1 \
     WHERE hash = ?1 AND rotated AND rotated_at >= ?2 AND reuses < ?3 RETURNING grant_id";
pub(crate) const REFRESH_GRANT: &str = "SELECT grant_id FROM refresh_tokens WHERE hash = ?1";
pub(crate) const CONSENT: &str = "SELECT doc FROM consents WHERE subject = ?1 AND client_id = ?2";
pub(crate) const ACCESS_TOKEN_REVOKED: &str = "SELECT 1 FROM revoked_access_tokens WHERE jti = ?1";
pub(crate) const USER_BY_USERNAME: &str =
    "SELECT subject, password_hash FROM users WHERE username = ?1";
pub(crate) const CLAIMS_BY_SUBJECT: &str = "SELECT claims FROM users WHERE subject = ?1";
pub(crate) const SESSION_GET: &str =
    "SELECT doc FROM kit_sessions WHERE id = ?1 AND expires_at > ?2";
pub(crate) const PENDING_TAKE: &str =
    "DELETE FROM kit_pending WHERE id = ?1 AND expires_at > ?2 RETURNING doc";
pub(crate) const PURGE_GRANTS: &str = "DELETE FROM grants WHERE rowid IN \
     (SELECT rowid FROM grants WHERE expires_at <= ?1 LIMIT ?2)";
pub(crate) const PURGE_CODES: &str = "DELETE FROM codes WHERE hash IN \
     (SELECT hash FROM codes WHERE expires_at <= ?1 LIMIT ?2)";
pub(crate) const PURGE_REFRESH: &str = "DELETE FROM refresh_tokens WHERE hash IN \
     (SELECT hash FROM refresh_tokens WHERE expires_at <= ?1 LIMIT ?2)";
pub(crate) const PURGE_REVOKED: &str = "DELETE FROM revoked_access_tokens WHERE jti IN \
     (SELECT jti FROM revoked_access_tokens WHERE expires_at <= ?1 LIMIT ?2)";
pub(crate) const PURGE_SESSIONS: &str = "DELETE FROM kit_sessions WHERE id IN \
     (SELECT id FROM kit_sessions WHERE expires_at <= ?1 LIMIT ?2)";
pub(crate) const PURGE_PENDING: &str = "DELETE FROM kit_pending WHERE id IN \
     (SELECT id FROM kit_pending WHERE expires_at <= ?1 LIMIT ?2)";

/// Every hot statement with a name, for [`crate::hot_queries`].
pub(crate) const HOT: &[(&str, &str)] = &[
    ("client by client_id", CLIENT_BY_CLIENT_ID),
    ("client by id", CLIENT_BY_ID),
    ("origin allowed", ORIGIN_ALLOWED),
    ("grant by id", GRANT_BY_ID),
    ("revoke grant", REVOKE_GRANT),
    ("revoke a subject's grants", REVOKE_SUBJECT_GRANTS),
    ("revoke a client's grants", REVOKE_CLIENT_GRANTS),
    ("redeem code", REDEEM_CODE),
    ("code replay check", CODE_GRANT),
    ("refresh lookup", REFRESH_LOOKUP),
    ("refresh rotate", ROTATE_REFRESH),
    ("refresh grace reuse", REUSE_REFRESH),
    ("refresh reuse check", REFRESH_GRANT),
    ("consent", CONSENT),
    ("revoked jti", ACCESS_TOKEN_REVOKED),
    ("user by username", USER_BY_USERNAME),
    ("claims by subject", CLAIMS_BY_SUBJECT),
    ("session get", SESSION_GET),
    ("pending take", PENDING_TAKE),
    ("purge grants", PURGE_GRANTS),
    ("purge codes", PURGE_CODES),
    ("purge refresh tokens", PURGE_REFRESH),
    ("purge revoked access tokens", PURGE_REVOKED),
    ("purge sessions", PURGE_SESSIONS),
    ("purge pending", PURGE_PENDING),
];
