//! Identifiers that must not be mixed up: a user's stable id (the OIDC `sub`) and a client's id
//! are both strings in the database, but a function that takes one never takes the other.

use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// An id read from storage (or minted by the server): trusted as it is.
            pub fn from_stored(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id!(
    /// A user's stable id: the OIDC `sub`.
    UserId
);
id!(
    /// An OAuth client's `client_id`.
    ClientId
);
