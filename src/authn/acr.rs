//! Authentication methods (RFC 8176 `amr`) and the context classes (`acr`) they reach.
//!
//! Three classes, ordered: one factor; two factors; phishing-resistant (a WebAuthn credential
//! was used with user verification or on top of a password — the `phr` value of the OpenID
//! Extended Authentication Profile ACR values). A login's methods decide its class; a request's
//! `acr_values` or a client's minimum asks for at least a class; what is missing is asked for
//! as a step, never the whole login again.

use std::fmt;

/// `acr` values, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Acr {
    OneFactor,
    TwoFactor,
    PhishingResistant,
}

pub const ONE_FACTOR: &str = "urn:ostiary:acr:1fa";
pub const TWO_FACTOR: &str = "urn:ostiary:acr:2fa";
pub const PHISHING_RESISTANT: &str = "phr";

/// For discovery's `acr_values_supported`, weakest first.
pub const SUPPORTED: [&str; 3] = [ONE_FACTOR, TWO_FACTOR, PHISHING_RESISTANT];

impl Acr {
    pub fn as_str(self) -> &'static str {
        match self {
            Acr::OneFactor => ONE_FACTOR,
            Acr::TwoFactor => TWO_FACTOR,
            Acr::PhishingResistant => PHISHING_RESISTANT,
        }
    }

    pub fn parse(s: &str) -> Option<Acr> {
        match s {
            ONE_FACTOR => Some(Acr::OneFactor),
            TWO_FACTOR => Some(Acr::TwoFactor),
            PHISHING_RESISTANT => Some(Acr::PhishingResistant),
            _ => None,
        }
    }

    /// The class a login with these methods (space-separated) reached.
    pub fn of_amr(amr: &str) -> Acr {
        let methods = Methods::parse(amr);
        if methods.webauthn() && methods.has(Method::Mfa) {
            Acr::PhishingResistant
        } else if methods.has(Method::Mfa) {
            Acr::TwoFactor
        } else {
            Acr::OneFactor
        }
    }
}

impl fmt::Display for Acr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RFC 8176 method values Ostiary uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Pwd,
    Otp,
    /// A WebAuthn credential bound to one device (not backup-eligible).
    Hwk,
    /// A WebAuthn credential that can be synced (backup-eligible): a software-protected key.
    Swk,
    /// The authenticator tested the user's presence.
    User,
    Mfa,
    /// Federated: another identity provider vouched for the person (an upstream login).
    Fed,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Pwd => "pwd",
            Method::Otp => "otp",
            Method::Hwk => "hwk",
            Method::Swk => "swk",
            Method::User => "user",
            Method::Mfa => "mfa",
            Method::Fed => "fed",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "pwd" => Method::Pwd,
            "otp" => Method::Otp,
            "hwk" => Method::Hwk,
            "swk" => Method::Swk,
            "user" => Method::User,
            "mfa" => Method::Mfa,
            "fed" => Method::Fed,
            _ => return None,
        })
    }
}

/// A set of methods; `mfa` is derived (two kinds of factor), never added by hand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Methods(Vec<Method>);

impl Methods {
    pub fn parse(amr: &str) -> Methods {
        let mut m = Methods::default();
        for v in amr.split_ascii_whitespace().filter_map(Method::parse) {
            m.insert(v);
        }
        m
    }

    pub fn password() -> Methods {
        Methods(vec![Method::Pwd])
    }

    pub fn has(&self, m: Method) -> bool {
        self.0.contains(&m)
    }

    fn webauthn(&self) -> bool {
        self.has(Method::Hwk) || self.has(Method::Swk)
    }

    fn insert(&mut self, m: Method) {
        if !self.0.contains(&m) {
            self.0.push(m);
            self.0.sort();
        }
    }

    /// Adds what a second step proved, and `mfa` when two kinds of factor are now present.
    pub fn with(mut self, step: &[Method]) -> Methods {
        for m in step {
            if *m != Method::Mfa {
                self.insert(*m);
            }
        }
        // The first factor: a password, or an upstream provider's login (`fed`).
        let knowledge = self.has(Method::Pwd) || self.has(Method::Fed);
        let possession = self.has(Method::Otp) || self.webauthn();
        if knowledge && possession {
            self.insert(Method::Mfa);
        }
        self
    }

    /// A WebAuthn assertion with user verification: possession plus a PIN or biometric the
    /// authenticator checked, two factors on its own.
    pub fn passkey(backup_eligible: bool, user_verified: bool) -> Vec<Method> {
        let key = if backup_eligible {
            Method::Swk
        } else {
            Method::Hwk
        };
        let mut v = vec![key, Method::User];
        if user_verified {
            v.push(Method::Mfa);
        }
        v
    }

    /// A passwordless login's methods.
    pub fn from_step(step: &[Method]) -> Methods {
        let mut m = Methods::default();
        for v in step {
            m.insert(*v);
        }
        m
    }

    pub fn acr(&self) -> Acr {
        Acr::of_amr(&self.to_string())
    }

    pub fn as_vec(&self) -> Vec<&'static str> {
        self.0.iter().map(|m| m.as_str()).collect()
    }
}

impl fmt::Display for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_vec().join(" "))
    }
}

/// What a request asks for: the first value of `acr_values` (in order of preference, OIDC Core
/// §3.1.2.1) that is known and that `reachable` says the user can reach. `acr_values` is a
/// voluntary request: when the user can reach none, nothing is forced (the id_token's `acr`
/// says what happened).
pub fn requested(acr_values: Option<&str>, reachable: impl Fn(Acr) -> bool) -> Option<Acr> {
    acr_values?
        .split_ascii_whitespace()
        .filter_map(Acr::parse)
        .find(|a| reachable(*a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_methods() {
        assert_eq!(Acr::of_amr("pwd"), Acr::OneFactor);
        let totp = Methods::password().with(&[Method::Otp]);
        assert_eq!(totp.to_string(), "pwd otp mfa");
        assert_eq!(totp.acr(), Acr::TwoFactor);
        let key = Methods::password().with(&Methods::passkey(false, true));
        assert_eq!(key.to_string(), "pwd hwk user mfa");
        assert_eq!(key.acr(), Acr::PhishingResistant);
        let passwordless = Methods::from_step(&Methods::passkey(true, true));
        assert_eq!(passwordless.to_string(), "swk user mfa");
        assert_eq!(passwordless.acr(), Acr::PhishingResistant);
        // Without user verification a lone key is one factor.
        let presence = Methods::from_step(&Methods::passkey(false, false));
        assert_eq!(presence.acr(), Acr::OneFactor);
        assert!(Acr::OneFactor < Acr::TwoFactor && Acr::TwoFactor < Acr::PhishingResistant);
    }

    #[test]
    fn requested_takes_the_first_reachable_known_value() {
        let all = |_: Acr| true;
        assert_eq!(requested(Some("x phr"), all), Some(Acr::PhishingResistant));
        let no_keys = |a: Acr| a != Acr::PhishingResistant;
        assert_eq!(
            requested(Some(&format!("phr {TWO_FACTOR}")), no_keys),
            Some(Acr::TwoFactor)
        );
        assert_eq!(requested(Some("phr"), no_keys), None);
        assert_eq!(requested(None, all), None);
    }
}
