//! Where a browser goes for what `authn::requirement` says is missing, then back to
//! `return_to`: the one mapping from a requirement to a page, for every page that asks.

use crate::authn::acr::Acr;
use crate::authn::requirement::Requirement;

/// The page that does what is missing; `None` when nothing is.
pub fn page_for(requirement: Requirement, return_to: &str) -> Option<String> {
    let (path, extra) = match requirement {
        Requirement::Satisfied => return None,
        Requirement::Login => ("/login", None),
        Requirement::StepUp(acr) => ("/login/second-factor", Some(("acr", acr.as_str()))),
        Requirement::Enrol(acr) => (
            "/account/security",
            Some((
                "needed",
                match acr {
                    Acr::PhishingResistant => "passkey",
                    _ => "factor",
                },
            )),
        ),
    };
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("return_to", return_to);
    if let Some((k, v)) = extra {
        q.append_pair(k, v);
    }
    Some(format!("{path}?{}", q.finish()))
}
