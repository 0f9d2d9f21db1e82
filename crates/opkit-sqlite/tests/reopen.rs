//! Closing and reopening a file keeps everything.

mod common;

use common::{options, TempDir};
use opkit::claims::UserClaims;
use opkit::client::{AuthMethod, Client, ClientSecret, ClientSettings, GrantType, ResponseType};
use opkit::jose::Algorithm;
use opkit::scope::Scopes;
use opkit::secret::SecretHash;
use opkit::store::{
    ClientStore, Consent, ConsentStore, Grant, GrantId, GrantStore, KeyStore, RefreshRecord,
    RefreshRotation, RefreshTokenStore, RevokedTokenStore, SigningKeyRecord, UserStore,
};
use opkit_axum::{SessionRecord, SessionStore};
use opkit_sqlite::{SqliteOptions, SqliteStore};
use time::{Duration, OffsetDateTime};

fn t(secs: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000 + secs)
}

fn client() -> Client {
    Client {
        id: "0001".into(),
        client_id: "reopen-client".into(),
        secrets: vec![ClientSecret {
            id: "s1".into(),
            name: "primary".into(),
            hash: SecretHash::of("client secret"),
            created_at: t(0),
            expires_at: None,
        }],
        registration_access_token: None,
        settings: ClientSettings {
            name: "Reopen".into(),
            description: None,
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec![],
            id_token_signed_response_alg: Algorithm::Es256,
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            response_types: vec![ResponseType::CODE],
            allowed_scopes: Scopes::parse("openid offline_access").unwrap(),
            allowed_origins: vec!["https://rp.example".into()],
            logo_uri: None,
            logo_dark_mode_uri: None,
            require_pkce: true,
            allow_plain_pkce: false,
            introspect_any_token: false,
            refresh_grace: None,
            allowed_resources: Vec::new(),
            userinfo_signed_response_alg: None,
            metadata: Default::default(),
        },
        date_created: t(0),
        date_modified: t(0),
        revision: 0,
    }
}

fn grant() -> Grant {
    Grant {
        id: GrantId("reopen-grant".into()),
        client_id: "reopen-client".into(),
        subject: Some("sub-ada".into()),
        scopes: Scopes::parse("openid offline_access").unwrap(),
        auth_time: Some(t(0)),
        // Sub-second times come back exactly (the document keeps them).
        created_at: t(0) + Duration::nanoseconds(123_456_789),
        expires_at: t(86_400) + Duration::nanoseconds(987_654_321),
        revoked: false,
        resource: None,
    }
}

fn refresh(secret: &str) -> RefreshRecord {
    RefreshRecord {
        hash: SecretHash::of(secret),
        grant_id: grant().id,
        client_id: "reopen-client".into(),
        subject: "sub-ada".into(),
        scopes: Scopes::parse("openid offline_access").unwrap(),
        auth_time: t(0),
        issued_at: t(1),
        expires_at: t(3_600),
    }
}

#[tokio::test]
async fn reopening_a_file_keeps_everything() {
    let dir = TempDir::new("reopen");
    let path = dir.db("op.db");
    let key = SigningKeyRecord {
        kid: "k0".into(),
        alg: Algorithm::Es256,
        generation: 0,
        private_key: vec![0, 1, 2, 255],
        created_at: t(0),
        activates_at: t(10),
    };
    let session = SessionRecord {
        session: opkit::Session {
            subject: "sub-ada".into(),
            auth_time: t(0),
        },
        username: "ada".into(),
    };
    let consent = Consent {
        subject: "sub-ada".into(),
        client_id: "reopen-client".into(),
        scopes: Scopes::parse("openid").unwrap(),
        granted_at: t(5),
    };
    {
        let store = SqliteStore::open(&path, options()).await.unwrap();
        store.insert_client(client()).await.unwrap();
        store.create_grant(grant()).await.unwrap();
        store.put_refresh_token(refresh("r1")).await.unwrap();
        assert_eq!(
            store
                .rotate_refresh_token(&SecretHash::of("r1"), refresh("r2"))
                .await
                .unwrap(),
            RefreshRotation::Rotated
        );
        store.put_consent(consent.clone()).await.unwrap();
        store.revoke_access_token("jti-1", t(3_600)).await.unwrap();
        assert!(store.insert_signing_key(key.clone()).await.unwrap());
        store
            .put_user("ada", "pw", "sub-ada", UserClaims::default())
            .await
            .unwrap();
        store
            .insert(SecretHash::of("cookie"), session.clone(), t(7_200), t(0))
            .await
            .unwrap();
    }
    // Reopened with other options: the data is the file's.
    let store = SqliteStore::open(&path, SqliteOptions::default().synchronous_normal())
        .await
        .unwrap();
    assert_eq!(
        store.client("reopen-client").await.unwrap().as_deref(),
        Some(&client())
    );
    assert!(store.origin_allowed("https://rp.example").await.unwrap());
    assert_eq!(store.grant(&grant().id).await.unwrap(), Some(grant()));
    let r1 = store
        .refresh_token(&SecretHash::of("r1"))
        .await
        .unwrap()
        .unwrap();
    assert!(r1.rotated);
    let r2 = store
        .refresh_token(&SecretHash::of("r2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r2.record, r2.rotated), (refresh("r2"), false));
    assert_eq!(
        store.consent("sub-ada", "reopen-client").await.unwrap(),
        Some(consent)
    );
    assert!(store.is_access_token_revoked("jti-1").await.unwrap());
    assert_eq!(store.signing_keys().await.unwrap(), vec![key]);
    assert_eq!(
        store.authenticate("ada", "pw").await.unwrap(),
        Some("sub-ada".into())
    );
    assert_eq!(
        store.get(SecretHash::of("cookie"), t(1)).await.unwrap(),
        Some(session)
    );
}

/// The file holds password hashes and signing keys: a new one, its folder and its WAL files
/// are for the owner only.
#[cfg(unix)]
#[tokio::test]
async fn a_new_database_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("private");
    let path = dir.db("new-folder/private.db");
    let store = SqliteStore::open(&path, options()).await.unwrap();
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    opkit::store::RevokedTokenStore::revoke_access_token(&store, "jti", later)
        .await
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    for file in [path.clone(), path.with_extension("db-wal")] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}
