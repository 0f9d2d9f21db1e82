//! Every hot statement searches an index: `EXPLAIN QUERY PLAN` on the very text the store runs,
//! against a filled and analysed database.

mod common;

use common::{options, TempDir};
use opkit_sqlite::{hot_queries, SqliteStore};

/// Enough rows that a scan would cost, and statistics so the planner knows it.
fn fill(conn: &rusqlite::Connection) {
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..2_000i64 {
        let key = format!("k{i:05}");
        let hash = i.to_be_bytes().repeat(4);
        let expires = 1_700_000_000_000_000 + i;
        tx.execute(
            "INSERT INTO clients (id, client_id, revision, doc) VALUES (?1, ?1, 0, '{}')",
            [&key],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO client_origins (origin, client_id) VALUES ('https://' || ?1, ?1)",
            [&key],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO grants (id, client_id, subject, doc, expires_at, revoked) \
             VALUES (?1, ?1, ?1, '{}', ?2, 0)",
            rusqlite::params![key, expires],
        )
        .unwrap();
        for table in ["codes", "refresh_tokens"] {
            tx.execute(
                &format!(
                    "INSERT INTO {table} (hash, grant_id, doc, expires_at) VALUES (?1, ?2, '{{}}', ?3)"
                ),
                rusqlite::params![hash, key, expires],
            )
            .unwrap();
        }
        tx.execute(
            "INSERT INTO consents (subject, client_id, doc) VALUES (?1, ?1, '{}')",
            [&key],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (?1, ?2)",
            rusqlite::params![key, expires],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO users (username, subject, password_hash, claims) VALUES (?1, ?1, '', '{}')",
            [&key],
        )
        .unwrap();
        for table in ["kit_sessions", "kit_pending"] {
            tx.execute(
                &format!("INSERT INTO {table} (id, doc, expires_at) VALUES (?1, '{{}}', ?2)"),
                rusqlite::params![hash, expires],
            )
            .unwrap();
        }
    }
    tx.commit().unwrap();
    conn.execute_batch("ANALYZE").unwrap();
}

fn plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
    stmt.query_map(rusqlite::params_from_iter(nulls), |row| {
        row.get::<_, String>(3)
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[tokio::test]
async fn every_hot_query_searches_an_index_and_none_scans() {
    let dir = TempDir::new("explain");
    let path = dir.db("plans.db");
    let store = SqliteStore::open(&path, options()).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    fill(&conn);
    let search = |line: &str| {
        line.starts_with("SEARCH ")
            && [
                " USING PRIMARY KEY (",
                " USING INTEGER PRIMARY KEY (",
                " USING INDEX ",
                " USING COVERING INDEX ",
            ]
            .iter()
            .any(|how| line.contains(how))
    };
    let mut report = String::new();
    for (name, sql) in hot_queries() {
        let lines = plan(&conn, sql);
        report.push_str(&format!("{name}:\n"));
        for line in &lines {
            report.push_str(&format!("    {line}\n"));
        }
        assert!(
            lines.iter().all(|l| !l.starts_with("SCAN")),
            "{name} scans a table: {lines:?}\n{sql}"
        );
        assert!(
            lines.iter().any(|l| search(l)),
            "{name} searches no index: {lines:?}\n{sql}"
        );
    }
    // `cargo test --test explain -- --nocapture` shows the plans (the README lists them).
    println!("{report}");
    drop(store);
}
