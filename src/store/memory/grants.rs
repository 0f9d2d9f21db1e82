//! The grant side of the memory store: grants, authorization codes and refresh tokens, all
//! behind one lock so that every operation is atomic.
//!
//! # Layout
//!
//! Every grant id has one *family* ([`Family`]): the grant's fields (client, subject, scopes,
//! `auth_time`), its dates once [`GrantStore::create_grant`](crate::store::GrantStore) recorded
//! it, whether it is revoked, and how many codes and refresh tokens refer to it. Families live
//! in a [`Slab`] and are found by grant id through `family_index`, a [`SlotIndex`] (8 bytes a
//! bucket; the key is read from the slab). Grant ids of up to 22 bytes (128 random bits in
//! base64url) are stored inline.
//!
//! A refresh token ([`Token`]) is 80 bytes: its hash, its family's slot, its two dates, whether
//! it was rotated, and — only when its client, subject, scopes or `auth_time` differ from its
//! family's, which the core never does — a shared [`Detail`]. Tokens also live in a slab, found
//! by hash through `token_index`, another [`SlotIndex`]. Client ids, subjects and scope sets
//! are interned, so a million tokens of a thousand users share a thousand subjects.
//!
//! # Revocation
//!
//! Revoking a grant flags its family. From then on its unredeemed codes and unrotated refresh
//! tokens behave as deleted (`Unknown` / `None`, and they are removed when next touched or
//! purged), while redeemed codes and rotated tokens still report a replay or reuse until they
//! expire. The flag outlives the grant record as long as anything refers to the family, so a
//! token cannot outlive the revocation of its grant.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use time::OffsetDateTime;

use super::index::SlotIndex;
use super::slab::Slab;
use crate::scope::Scopes;
use crate::secret::SecretHash;
use crate::store::{
    CodeRecord, CodeRedemption, Grant, GrantId, RefreshLookup, RefreshRecord, RefreshRotation,
    StoreError,
};

/// Interned client ids, subjects and scope sets.
#[derive(Default)]
struct Interner {
    strs: HashSet<Arc<str>>,
    /// Scope sets by a keyed hash of their values (collisions share a bucket).
    scopes: HashMap<u64, Vec<Arc<Scopes>>>,
    hasher: RandomState,
}

impl Interner {
    fn str(&mut self, s: &str) -> Arc<str> {
        if let Some(found) = self.strs.get(s) {
            return Arc::clone(found);
        }
        let new: Arc<str> = Arc::from(s);
        self.strs.insert(Arc::clone(&new));
        new
    }

    fn find(&self, s: &str) -> Option<&Arc<str>> {
        self.strs.get(s)
    }

    fn scopes(&mut self, s: &Scopes) -> Arc<Scopes> {
        let mut h = self.hasher.build_hasher();
        for v in s.iter() {
            v.hash(&mut h);
        }
        let bucket = self.scopes.entry(h.finish()).or_default();
        if let Some(found) = bucket.iter().find(|a| ***a == *s) {
            return Arc::clone(found);
        }
        let new = Arc::new(s.clone());
        bucket.push(Arc::clone(&new));
        new
    }

    /// Forget values nothing else refers to.
    fn sweep(&mut self) {
        self.strs.retain(|a| Arc::strong_count(a) > 1);
        self.scopes.retain(|_, bucket| {
            bucket.retain(|a| Arc::strong_count(a) > 1);
            !bucket.is_empty()
        });
        shrink_set(&mut self.strs);
        shrink_map(&mut self.scopes);
    }
}

/// The fields a grant, code or refresh token describes its authorization with.
#[derive(Clone, Copy)]
struct Fields<'a> {
    client_id: &'a str,
    subject: Option<&'a str>,
    scopes: &'a Scopes,
    auth_time: Option<OffsetDateTime>,
}

impl<'a> Fields<'a> {
    fn of_code(c: &'a CodeRecord) -> Self {
        Fields {
            client_id: &c.client_id,
            subject: Some(&c.subject),
            scopes: &c.scopes,
            auth_time: Some(c.auth_time),
        }
    }

    fn of_refresh(r: &'a RefreshRecord) -> Self {
        Fields {
            client_id: &r.client_id,
            subject: Some(&r.subject),
            scopes: &r.scopes,
            auth_time: Some(r.auth_time),
        }
    }

    fn of_grant(g: &'a Grant) -> Self {
        Fields {
            client_id: &g.client_id,
            subject: g.subject.as_deref(),
            scopes: &g.scopes,
            auth_time: g.auth_time,
        }
    }
}

/// A grant id: inline up to 22 bytes (a 128-bit base64url id), on the heap beyond.
enum IdStr {
    Inline(u8, [u8; 22]),
    Heap(Box<str>),
}

impl IdStr {
    fn new(s: &str) -> IdStr {
        let mut buf = [0u8; 22];
        match (buf.get_mut(..s.len()), u8::try_from(s.len())) {
            (Some(dest), Ok(len)) => {
                dest.copy_from_slice(s.as_bytes());
                IdStr::Inline(len, buf)
            }
            _ => IdStr::Heap(Box::from(s)),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            IdStr::Inline(len, buf) => buf
                .get(..usize::from(*len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default(),
            IdStr::Heap(s) => s,
        }
    }
}

/// Everything stored under one grant id.
struct Family {
    id: IdStr,
    client_id: Arc<str>,
    subject: Option<Arc<str>>,
    scopes: Arc<Scopes>,
    auth_time: Option<OffsetDateTime>,
    /// Set by `create_grant`; cleared when the grant is purged.
    grant: Option<GrantDates>,
    revoked: bool,
    /// Codes and refresh tokens referring to this family.
    refs: u32,
}

impl Family {
    fn matches(&self, f: &Fields<'_>) -> bool {
        *self.client_id == *f.client_id
            && self.subject.as_deref() == f.subject
            && *self.scopes == *f.scopes
            && self.auth_time == f.auth_time
    }

    fn grant_id(&self) -> GrantId {
        GrantId(self.id.as_str().to_owned())
    }
}

#[derive(Clone, Copy)]
struct GrantDates {
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

/// A refresh token.
struct Token {
    hash: SecretHash,
    family: u32,
    rotated: bool,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    /// Only when the token's fields differ from its family's.
    detail: Option<Arc<Detail>>,
}

/// A refresh token's own fields, when they differ from its family's.
struct Detail {
    client_id: Arc<str>,
    subject: Arc<str>,
    scopes: Arc<Scopes>,
    auth_time: OffsetDateTime,
}

impl Detail {
    fn matches(&self, f: &Fields<'_>) -> bool {
        *self.client_id == *f.client_id
            && Some(&*self.subject) == f.subject
            && *self.scopes == *f.scopes
            && Some(self.auth_time) == f.auth_time
    }
}

/// An authorization code; `record` is `None` once redeemed (a tombstone kept for replay
/// detection until the code expires).
struct Code {
    family: u32,
    expires_at: OffsetDateTime,
    record: Option<Box<CodeRecord>>,
}

/// Counts for [`MemoryStats`](super::MemoryStats).
pub(super) struct GrantCounts {
    pub(super) grants: usize,
    pub(super) codes: usize,
    pub(super) refresh_tokens: usize,
}

/// Grants, codes and refresh tokens.
#[derive(Default)]
pub(super) struct GrantState {
    interner: Interner,
    families: Slab<Family>,
    family_index: SlotIndex,
    tokens: Slab<Token>,
    token_index: SlotIndex,
    codes: HashMap<SecretHash, Code>,
    /// Hashes keys for the two indexes.
    hasher: RandomState,
    /// Families with a grant record.
    grant_count: usize,
}

fn full() -> StoreError {
    StoreError::new("memory store is full")
}

fn inconsistent() -> StoreError {
    StoreError::new("memory store is inconsistent (a slot refers to a missing record)")
}

impl GrantState {
    /// How many grant ids have something stored under them.
    #[cfg(test)]
    pub(super) fn family_count(&self) -> usize {
        self.families.len()
    }

    pub(super) fn counts(&self) -> GrantCounts {
        GrantCounts {
            grants: self.grant_count,
            codes: self.codes.len(),
            refresh_tokens: self.tokens.len(),
        }
    }

    // ----- indexes -----

    fn family_slot(&self, id: &str) -> Option<u32> {
        let families = &self.families;
        self.family_index.get(self.hasher.hash_one(id), |s| {
            families.get(s).is_some_and(|f| f.id.as_str() == id)
        })
    }

    fn token_slot(&self, hash: &SecretHash) -> Option<u32> {
        let tokens = &self.tokens;
        self.token_index.get(self.hasher.hash_one(hash), |s| {
            tokens.get(s).is_some_and(|t| t.hash == *hash)
        })
    }

    /// Rebuild both indexes from the slabs (after a purge removed many entries).
    fn reindex(&mut self) {
        let hasher = &self.hasher;
        self.family_index.rebuild(
            self.families.len(),
            self.families
                .iter()
                .map(|(s, f)| (s, hasher.hash_one(f.id.as_str()))),
        );
        self.token_index.rebuild(
            self.tokens.len(),
            self.tokens
                .iter()
                .map(|(s, t)| (s, hasher.hash_one(t.hash))),
        );
    }

    // ----- families -----

    /// The family of `id`, created from `fields` if there is none.
    fn family_for(&mut self, id: &str, fields: Fields<'_>) -> Result<u32, StoreError> {
        if let Some(slot) = self.family_slot(id) {
            return Ok(slot);
        }
        let family = Family {
            id: IdStr::new(id),
            client_id: self.interner.str(fields.client_id),
            subject: fields.subject.map(|s| self.interner.str(s)),
            scopes: self.interner.scopes(fields.scopes),
            auth_time: fields.auth_time,
            grant: None,
            revoked: false,
            refs: 0,
        };
        let slot = self.families.insert(family).ok_or_else(full)?;
        self.family_index.insert(self.hasher.hash_one(id), slot);
        Ok(slot)
    }

    /// One more code or token refers to the family.
    fn retain_family(&mut self, slot: u32) {
        if let Some(f) = self.families.get_mut(slot) {
            f.refs = f.refs.saturating_add(1);
        }
    }

    /// One code or token less refers to the family; drop it if nothing is left.
    fn release_family(&mut self, slot: u32) {
        let Some(f) = self.families.get_mut(slot) else {
            return;
        };
        f.refs = f.refs.saturating_sub(1);
        if f.refs == 0 && f.grant.is_none() {
            self.drop_family(slot);
        }
    }

    fn drop_family(&mut self, slot: u32) {
        let Some(f) = self.families.get(slot) else {
            return;
        };
        self.family_index
            .remove(self.hasher.hash_one(f.id.as_str()), |s| s == slot);
        self.families.remove(slot);
    }

    /// Replace a family's fields, first giving its tokens that relied on the old ones a
    /// [`Detail`] of their own. Only happens when codes or tokens were stored before their
    /// grant, with other fields: a full scan, acceptable for that odd order.
    fn rebase_family(&mut self, slot: u32, fields: Fields<'_>) {
        let client_id = self.interner.str(fields.client_id);
        let subject = fields.subject.map(|s| self.interner.str(s));
        let scopes = self.interner.scopes(fields.scopes);
        let Some(f) = self.families.get_mut(slot) else {
            return;
        };
        let old = match (&f.subject, f.auth_time) {
            (Some(subject), Some(auth_time)) if f.refs > 0 => Some(Arc::new(Detail {
                client_id: Arc::clone(&f.client_id),
                subject: Arc::clone(subject),
                scopes: Arc::clone(&f.scopes),
                auth_time,
            })),
            _ => None,
        };
        f.client_id = client_id;
        f.subject = subject;
        f.scopes = scopes;
        f.auth_time = fields.auth_time;
        if let Some(old) = old {
            for (_, t) in self.tokens.iter_mut() {
                if t.family == slot && t.detail.is_none() {
                    t.detail = Some(Arc::clone(&old));
                }
            }
        }
    }

    /// The [`Detail`] a token with `fields` in family `slot` needs: none if it matches the
    /// family, `hint` (its predecessor's) if that matches.
    fn detail_for(
        &mut self,
        slot: u32,
        fields: Fields<'_>,
        hint: Option<&Arc<Detail>>,
    ) -> Option<Arc<Detail>> {
        if self.families.get(slot).is_some_and(|f| f.matches(&fields)) {
            return None;
        }
        if let Some(h) = hint.filter(|h| h.matches(&fields)) {
            return Some(Arc::clone(h));
        }
        Some(Arc::new(Detail {
            client_id: self.interner.str(fields.client_id),
            subject: self.interner.str(fields.subject.unwrap_or_default()),
            scopes: self.interner.scopes(fields.scopes),
            auth_time: fields.auth_time.unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }))
    }

    // ----- grants -----

    pub(super) fn create_grant(&mut self, grant: &Grant) -> Result<(), StoreError> {
        let fields = Fields::of_grant(grant);
        let slot = match self.family_slot(&grant.id.0) {
            Some(slot) => {
                let f = self.families.get(slot).ok_or_else(inconsistent)?;
                if f.grant.is_some() || f.revoked {
                    return Err(StoreError::conflict("a grant with this id exists"));
                }
                if !f.matches(&fields) {
                    self.rebase_family(slot, fields);
                }
                slot
            }
            None => self.family_for(&grant.id.0, fields)?,
        };
        let f = self.families.get_mut(slot).ok_or_else(inconsistent)?;
        f.grant = Some(GrantDates {
            created_at: grant.created_at,
            expires_at: grant.expires_at,
        });
        f.revoked = grant.revoked;
        self.grant_count += 1;
        Ok(())
    }

    pub(super) fn grant(&self, id: &GrantId) -> Option<Grant> {
        let slot = self.family_slot(&id.0)?;
        let f = self.families.get(slot)?;
        let dates = f.grant?;
        Some(Grant {
            id: id.clone(),
            client_id: f.client_id.to_string(),
            subject: f.subject.as_deref().map(str::to_owned),
            scopes: (*f.scopes).clone(),
            auth_time: f.auth_time,
            created_at: dates.created_at,
            expires_at: dates.expires_at,
            revoked: f.revoked,
        })
    }

    pub(super) fn revoke_grant(&mut self, id: &GrantId) {
        if let Some(slot) = self.family_slot(&id.0) {
            if let Some(f) = self.families.get_mut(slot) {
                f.revoked = true;
            }
        }
    }

    /// Revoke the grants of `client_id` (and `subject`); a full scan of the families, which are
    /// compared by interned pointer.
    pub(super) fn revoke_grants(&mut self, client_id: &str, subject: Option<&str>) -> u64 {
        let Some(client) = self.interner.find(client_id).cloned() else {
            return 0;
        };
        let subject = match subject {
            Some(s) => match self.interner.find(s) {
                Some(found) => Some(Arc::clone(found)),
                None => return 0,
            },
            None => None,
        };
        let mut revoked = 0;
        for (_, f) in self.families.iter_mut() {
            if f.revoked || !Arc::ptr_eq(&f.client_id, &client) {
                continue;
            }
            if let Some(s) = &subject {
                if !f.subject.as_ref().is_some_and(|fs| Arc::ptr_eq(fs, s)) {
                    continue;
                }
            }
            f.revoked = true;
            if f.grant.is_some() {
                revoked += 1;
            }
        }
        revoked
    }

    // ----- codes -----

    pub(super) fn put_code(&mut self, code: CodeRecord) -> Result<(), StoreError> {
        if self.codes.contains_key(&code.hash) {
            return Err(StoreError::conflict(
                "an authorization code with this hash exists",
            ));
        }
        let slot = self.family_for(&code.grant_id.0, Fields::of_code(&code))?;
        self.retain_family(slot);
        self.codes.insert(
            code.hash,
            Code {
                family: slot,
                expires_at: code.expires_at,
                record: Some(Box::new(code)),
            },
        );
        Ok(())
    }

    pub(super) fn redeem_code(&mut self, hash: &SecretHash) -> Result<CodeRedemption, StoreError> {
        let Some(code) = self.codes.get_mut(hash) else {
            return Ok(CodeRedemption::Unknown);
        };
        let f = self.families.get(code.family).ok_or_else(inconsistent)?;
        if code.record.is_none() {
            return Ok(CodeRedemption::Replayed {
                grant_id: f.grant_id(),
            });
        }
        if f.revoked {
            // Revoking the grant dropped the code.
            let family = code.family;
            self.codes.remove(hash);
            self.release_family(family);
            return Ok(CodeRedemption::Unknown);
        }
        match code.record.take() {
            Some(record) => Ok(CodeRedemption::Redeemed(record)),
            None => Err(inconsistent()),
        }
    }

    // ----- refresh tokens -----

    /// Store a token whose hash is known to be free.
    fn insert_token(
        &mut self,
        record: &RefreshRecord,
        hint: Option<&Arc<Detail>>,
    ) -> Result<(), StoreError> {
        let fields = Fields::of_refresh(record);
        let slot = self.family_for(&record.grant_id.0, fields)?;
        let detail = self.detail_for(slot, fields, hint);
        let token = Token {
            hash: record.hash,
            family: slot,
            rotated: false,
            issued_at: record.issued_at,
            expires_at: record.expires_at,
            detail,
        };
        // Count the reference first so a failed insert releases (and drops) a new family.
        self.retain_family(slot);
        match self.tokens.insert(token) {
            Some(t) => {
                self.token_index
                    .insert(self.hasher.hash_one(record.hash), t);
                Ok(())
            }
            None => {
                self.release_family(slot);
                Err(full())
            }
        }
    }

    fn remove_token(&mut self, hash: &SecretHash) {
        let tokens = &self.tokens;
        let removed = self.token_index.remove(self.hasher.hash_one(hash), |s| {
            tokens.get(s).is_some_and(|t| t.hash == *hash)
        });
        if let Some(t) = removed.and_then(|slot| self.tokens.remove(slot)) {
            self.release_family(t.family);
        }
    }

    fn refresh_record(&self, t: &Token) -> Result<RefreshRecord, StoreError> {
        let f = self.families.get(t.family).ok_or_else(inconsistent)?;
        let (client_id, subject, scopes, auth_time) = match &t.detail {
            Some(d) => (&d.client_id, &d.subject, &d.scopes, d.auth_time),
            None => match (&f.subject, f.auth_time) {
                (Some(subject), Some(auth_time)) => (&f.client_id, subject, &f.scopes, auth_time),
                // A token without detail matched its family, which then has both.
                _ => return Err(inconsistent()),
            },
        };
        Ok(RefreshRecord {
            hash: t.hash,
            grant_id: f.grant_id(),
            client_id: client_id.to_string(),
            subject: subject.to_string(),
            scopes: (**scopes).clone(),
            auth_time,
            issued_at: t.issued_at,
            expires_at: t.expires_at,
        })
    }

    /// The token's slot, whether it was rotated, and whether its grant was revoked.
    fn token_state(&self, hash: &SecretHash) -> Result<Option<(u32, bool, bool)>, StoreError> {
        let Some(slot) = self.token_slot(hash) else {
            return Ok(None);
        };
        let t = self.tokens.get(slot).ok_or_else(inconsistent)?;
        let f = self.families.get(t.family).ok_or_else(inconsistent)?;
        Ok(Some((slot, t.rotated, f.revoked)))
    }

    pub(super) fn put_refresh_token(&mut self, token: &RefreshRecord) -> Result<(), StoreError> {
        if self.token_slot(&token.hash).is_some() {
            return Err(StoreError::conflict(
                "a refresh token with this hash exists",
            ));
        }
        self.insert_token(token, None)
    }

    pub(super) fn refresh_token(
        &mut self,
        hash: &SecretHash,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        let Some((slot, rotated, revoked)) = self.token_state(hash)? else {
            return Ok(None);
        };
        if revoked && !rotated {
            // Revoking the grant dropped the token.
            self.remove_token(hash);
            return Ok(None);
        }
        let t = self.tokens.get(slot).ok_or_else(inconsistent)?;
        Ok(Some(RefreshLookup {
            record: self.refresh_record(t)?,
            rotated,
        }))
    }

    pub(super) fn rotate_refresh_token(
        &mut self,
        presented: &SecretHash,
        next: &RefreshRecord,
    ) -> Result<RefreshRotation, StoreError> {
        let Some((slot, rotated, revoked)) = self.token_state(presented)? else {
            return Ok(RefreshRotation::Unknown);
        };
        let t = self.tokens.get(slot).ok_or_else(inconsistent)?;
        if rotated {
            let f = self.families.get(t.family).ok_or_else(inconsistent)?;
            return Ok(RefreshRotation::Reused {
                grant_id: f.grant_id(),
            });
        }
        if revoked {
            self.remove_token(presented);
            return Ok(RefreshRotation::Unknown);
        }
        if next.hash == *presented || self.token_slot(&next.hash).is_some() {
            return Err(StoreError::conflict(
                "a refresh token with this hash exists",
            ));
        }
        let hint = t.detail.clone();
        self.insert_token(next, hint.as_ref())?;
        match self.tokens.get_mut(slot) {
            Some(t) => {
                t.rotated = true;
                Ok(RefreshRotation::Rotated)
            }
            None => Err(inconsistent()),
        }
    }

    // ----- housekeeping -----

    /// Remove codes and refresh tokens that expired at `now` or whose grant is revoked, grants
    /// that expired, and families nothing refers to any more.
    pub(super) fn purge(&mut self, now: OffsetDateTime) {
        let GrantState {
            families,
            tokens,
            codes,
            grant_count,
            ..
        } = self;
        let dead_family =
            |families: &Slab<Family>, slot: u32| families.get(slot).is_none_or(|f| f.revoked);
        let mut released: Vec<u32> = Vec::new();
        codes.retain(|_, c| {
            let dead = c.expires_at <= now || dead_family(families, c.family);
            if dead {
                released.push(c.family);
            }
            !dead
        });
        let dead_tokens: Vec<u32> = tokens
            .iter()
            .filter(|(_, t)| t.expires_at <= now || dead_family(families, t.family))
            .map(|(slot, _)| slot)
            .collect();
        for slot in &dead_tokens {
            if let Some(t) = tokens.remove(*slot) {
                released.push(t.family);
            }
        }
        for slot in released {
            if let Some(f) = families.get_mut(slot) {
                f.refs = f.refs.saturating_sub(1);
            }
        }
        let mut unused: Vec<u32> = Vec::new();
        for (slot, f) in families.iter_mut() {
            if f.grant.is_some_and(|g| g.expires_at <= now) {
                f.grant = None;
                *grant_count = grant_count.saturating_sub(1);
            }
            if f.refs == 0 && f.grant.is_none() {
                unused.push(slot);
            }
        }
        for slot in &unused {
            families.remove(*slot);
        }
        if !dead_tokens.is_empty() || !unused.is_empty() {
            families.shrink();
            tokens.shrink();
            self.reindex();
        }
        shrink_map(&mut self.codes);
        self.interner.sweep();
    }
}

/// Give memory back after a purge emptied most of a map.
pub(super) fn shrink_map<K: Eq + Hash, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > 4 * map.len() + 1024 {
        map.shrink_to_fit();
    }
}

fn shrink_set<K: Eq + Hash>(set: &mut HashSet<K>) {
    if set.capacity() > 4 * set.len() + 1024 {
        set.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_sizes() {
        // The per-entry cost the memory budget relies on.
        assert_eq!(std::mem::size_of::<IdStr>(), 24);
        assert!(std::mem::size_of::<Option<Token>>() <= 80);
        assert!(std::mem::size_of::<Option<Family>>() <= 120);
    }

    #[test]
    fn ids_inline_and_on_the_heap() {
        for id in [
            "",
            "a",
            "0123456789abcdefghijkl",
            "0123456789abcdefghijklm",
            "é→ü",
            &"x".repeat(300),
        ] {
            assert_eq!(IdStr::new(id).as_str(), id);
        }
        assert!(matches!(IdStr::new(&"y".repeat(22)), IdStr::Inline(22, _)));
        assert!(matches!(IdStr::new(&"y".repeat(23)), IdStr::Heap(_)));
    }
}
