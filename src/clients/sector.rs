//! The document a pairwise client's `sector_identifier_uri` names (OIDC Core §8.1): a JSON
//! array of URIs, fetched through `outbound` only, when the client is registered or changed.
//! The web and CLI layers call [`read_into`] before asking the client policy, which only
//! compares (`client_policy::ClientSpec::sector_document`).

use crate::oauth::client_policy::ClientSpec;
use crate::outbound::{Limits, Outbound};

/// Fills `spec.sector_document` when the spec names a `sector_identifier_uri`.
pub async fn read_into(outbound: &Outbound, spec: &mut ClientSpec) {
    let Some(uri) = spec
        .sector_identifier_uri
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
    else {
        return;
    };
    spec.sector_document = Some(fetch(outbound, &uri).await);
}

/// The URIs the document lists, or why there are none (a sentence for an error description).
pub async fn fetch(outbound: &Outbound, uri: &str) -> Result<Vec<String>, String> {
    let answer = outbound
        .get(uri, "application/json", Limits::SECTOR)
        .await
        .map_err(|e| e.to_string())?;
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&answer.body)
        .map_err(|_| "it is not a JSON array of URIs".to_owned())?;
    listed
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err("it is not a JSON array of URIs".to_owned()),
        })
        .collect()
}

/// As [`read_into`], for the command line (no runtime runs there).
pub fn read_into_blocking(outbound: &Outbound, spec: &mut ClientSpec) {
    if spec
        .sector_identifier_uri
        .as_deref()
        .is_none_or(|u| u.trim().is_empty())
    {
        return;
    }
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(read_into(outbound, spec)),
        Err(e) => spec.sector_document = Some(Err(format!("no runtime to fetch it: {e}"))),
    }
}
