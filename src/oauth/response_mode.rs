//! How an authorization response reaches the client: in the redirect URI's query (RFC 6749
//! §4.1.2, the default for `response_type=code`), or as a form the browser posts to the redirect
//! URI (OAuth 2.0 Form Post Response Mode). Only the mode is decided here; the web layer renders
//! the form.

use url::Url;

use super::params::Params;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

/// The mode the request asks for: none means the default (`query`); anything but `query` and
/// `form_post` is refused (`Err`), at the redirect URI once it is validated.
pub fn requested(params: &Params<'_>) -> Result<ResponseMode, &'static str> {
    match params.get("response_mode").as_deref() {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(_) => Err("response_mode must be query or form_post"),
    }
}

/// The parameters of an authorization response (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207).
const RESPONSE_PARAMETERS: [&str; 6] = [
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
];

/// An authorization response to be posted by the browser: `action` is the redirect URI as the
/// client registered it (its own query, if any, kept), `fields` the response parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormPost {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl FormPost {
    /// The form for a response we would otherwise redirect to: the response parameters we
    /// appended move into the form, whatever else the query held stays in the action.
    pub fn from_redirect(location: &str) -> Option<FormPost> {
        let url = Url::parse(location).ok()?;
        let (fields, kept): (Vec<_>, Vec<_>) = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .partition(|(k, _)| RESPONSE_PARAMETERS.contains(&k.as_str()));
        let mut action = url.clone();
        action.set_fragment(None);
        if kept.is_empty() {
            action.set_query(None);
        } else {
            action.query_pairs_mut().clear().extend_pairs(kept);
        }
        Some(FormPost {
            action: action.into(),
            fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_parameters_move_into_the_form_and_the_registered_query_stays() {
        let post = FormPost::from_redirect(
            "https://rp.example/cb?tenant=a&code=xyz&state=s%20t&iss=https%3A%2F%2Fop",
        )
        .expect("a URL");
        assert_eq!(post.action, "https://rp.example/cb?tenant=a");
        assert_eq!(
            post.fields,
            vec![
                ("code".to_owned(), "xyz".to_owned()),
                ("state".to_owned(), "s t".to_owned()),
                ("iss".to_owned(), "https://op".to_owned()),
            ]
        );
        let post =
            FormPost::from_redirect("https://rp.example/cb?error=access_denied").expect("a URL");
        assert_eq!(post.action, "https://rp.example/cb");
    }
}
