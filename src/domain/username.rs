//! A username as it is stored and compared: prepared once, on construction, so two spellings
//! of one name are one value and a value of this type is never unprepared (parse, don't
//! validate).

use std::fmt;

/// A prepared username.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Prepares a username as RFC 8265's UsernameCaseMapped profile says (width mapping — fullwidth
    /// `ｅｖｅ` is `eve` —, case mapping, NFC — `josé` composed or not is one name —, the
    /// IdentifierClass, the bidi rule), and refuses names that mix scripts (UTS #39), such as `dаve`
    /// with a Cyrillic `а`. Every way in (login, CLI, console, setup) prepares names with this.
    pub fn parse(raw: &str) -> Result<Username, String> {
        use precis_core::profile::Profile;
        use unicode_security::MixedScript;
        let raw = raw.trim();
        if raw.is_empty() || raw.chars().count() > 64 {
            return Err("the username must have 1 to 64 characters".into());
        }
        let prepared = precis_profiles::UsernameCaseMapped::new()
            .enforce(raw)
            .map_err(|_| {
                "the username may contain letters, digits and symbols, but no spaces, control or \
                 formatting characters"
                    .to_owned()
            })?
            .into_owned();
        if prepared.chars().count() > 64 {
            return Err("the username must have 1 to 64 characters".into());
        }
        if !prepared.as_str().is_single_script() {
            return Err(
                "the username mixes letters of different scripts (for example Latin and Cyrillic)"
                    .into(),
            );
        }
        Ok(Username(prepared))
    }

    /// A name read from storage (stored prepared).
    pub fn from_stored(name: impl Into<String>) -> Username {
        Username(name.into())
    }

    /// The UTS #39 confusable skeleton of the prepared name: `реасе` (Cyrillic) and `peace`, or
    /// `ѕсоре` and `scope`, have one skeleton. Each script alone passes `parse`, so look-alikes
    /// across whole names are caught by comparing skeletons (a unique column of `users`).
    /// Names are stored prepared (case-mapped), so this is the skeleton of what is stored.
    pub fn skeleton(&self) -> String {
        skeleton_of(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The UTS #39 skeleton of a stored (prepared) username.
pub fn skeleton_of(prepared: &str) -> String {
    unicode_security::skeleton(prepared).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skeleton(raw: &str) -> String {
        Username::parse(raw).expect("a valid name").skeleton()
    }

    #[test]
    fn whole_script_look_alikes_share_a_skeleton() {
        // Each is a single-script name that `parse` accepts; only the skeleton tells.
        assert_eq!(
            skeleton("\u{440}\u{435}\u{430}\u{441}\u{435}"),
            skeleton("peace")
        );
        assert_eq!(
            skeleton("\u{455}\u{441}\u{43e}\u{440}\u{435}"),
            skeleton("scope")
        );
        assert_eq!(skeleton("PEACE"), skeleton("peace"));
        assert_ne!(skeleton("peace"), skeleton("piece"));
    }
}
