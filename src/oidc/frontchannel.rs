//! OpenID Connect Front-Channel Logout 1.0: when a session ends at the logout endpoint, the
//! logged-out page loads, in hidden frames, the `frontchannel_logout_uri` of every client the
//! session signed into (the clients back-channel logout notifies, `backchannel::signed_into`),
//! with `iss` and `sid` (the id_tokens' `sid`) for clients that require the session.

use url::Url;

use super::id_token::sid;
use crate::db::models::{backchannel, clients};
use crate::db::DbConn;

/// One frame of the logged-out page: the URL it loads and that URL's origin (for `frame-src`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub client_id: String,
    pub src: String,
    /// `scheme://host[:port]`, as `url::Origin::ascii_serialization` writes it.
    pub origin: String,
}

/// The frames for the session whose codes and families name it `lineage`, one per enabled
/// client with a front-channel logout URI, in client order. Read before the session ends.
pub fn frames(conn: &mut DbConn, issuer: &str, lineage: &str) -> diesel::QueryResult<Vec<Frame>> {
    let mut ids: Vec<String> = backchannel::signed_into(conn, &[lineage.to_owned()])?
        .into_iter()
        .map(|(_, client_id, _)| client_id)
        .collect();
    ids.dedup();
    let mut frames = Vec::new();
    for id in ids {
        let Some(client) = clients::by_id(conn, &id)? else {
            continue;
        };
        if client.row.disabled {
            continue;
        }
        let Some(mut url) = client
            .row
            .frontchannel_logout_uri
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
        else {
            continue;
        };
        if client.row.frontchannel_logout_session_required {
            url.query_pairs_mut()
                .append_pair("iss", issuer)
                .append_pair("sid", &sid(lineage));
        }
        let origin = url.origin();
        if !origin.is_tuple() {
            continue;
        }
        frames.push(Frame {
            client_id: id,
            origin: origin.ascii_serialization(),
            src: url.into(),
        });
    }
    Ok(frames)
}
