//! Withdrawing consent.

use crate::error::Error;
use crate::host::Event;
use crate::store::{Store, UserStore};
use crate::Provider;

impl<S: Store, U: UserStore> Provider<S, U> {
    /// Withdraw `subject`'s consent to `client_id` and revoke every grant (codes, access and
    /// refresh tokens) the user made to that client. Returns how many grants were revoked.
    pub async fn revoke_consent(&self, subject: &str, client_id: &str) -> Result<u64, Error> {
        self.store.delete_consent(subject, client_id).await?;
        let grants_revoked = self.store.revoke_grants(client_id, Some(subject)).await?;
        self.events.emit(&Event::ConsentRevoked {
            subject,
            client_id,
            grants_revoked,
        });
        Ok(grants_revoked)
    }
}
