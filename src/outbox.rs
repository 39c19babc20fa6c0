//! The outbox: whatever Ostiary sends to the outside world (mail, back-channel logout tokens)
//! is first a row written in the same transaction as the change that causes it, then delivered
//! by the background sender every replica runs (`outbox_sender`). This part is what the services
//! call inside their transactions; it knows nothing of the sender or of `AppState`.

use diesel::QueryResult;
use tokio::sync::Notify;

use crate::db::models::outbox as rows;
use crate::db::{self, DbConn};
use crate::mail::Mail;

/// The kind of a mail row.
pub const MAIL: &str = "mail";
/// The kind of a back-channel logout row.
pub const BACKCHANNEL: &str = crate::db::models::backchannel::KIND;

/// Puts `mail` in the outbox. Call it inside the transaction that makes the change the mail is
/// about, then wake the sender (`Waker`, held by `AppState`) once that transaction has committed.
pub fn enqueue_mail(conn: &mut DbConn, mail: &Mail) -> QueryResult<()> {
    let payload = serde_json::to_string(mail)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    rows::queue(conn, MAIL, &mail.to, payload, db::now())
}

/// Wakes this process's sender at once (otherwise it looks every `outbox_interval` seconds).
#[derive(Default)]
pub struct Waker(Notify);

impl Waker {
    pub fn wake(&self) {
        // A stored permit: a sender busy right now looks again as soon as it is done.
        self.0.notify_one();
    }

    /// What the sender awaits between rounds.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.0.notified()
    }
}
