//! The one rule for "is this sign-in enough for what is asked": `/authorize` (and PAR, whose
//! requests resume through it), `/device` and the account's security page all ask it, and map
//! its answer to their pages. node-oidc-provider's interaction policy is the model: the named
//! checks (a login at all, `prompt=login`, `max_age`, the client's minimum class, `acr_values`)
//! evaluated in one place, in one order.

use super::acr::{self, Acr, Methods};
use super::second_factor::Factors;

/// What must still happen before the request may proceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    Satisfied,
    /// A (new) login: nobody is signed in, the login is older than asked, or one was asked for.
    Login,
    /// A second step the user has a factor for, reaching this class.
    StepUp(Acr),
    /// The user has no factor that reaches this class: one is set up first.
    Enrol(Acr),
}

/// The sign-in the browser has for the request at hand.
#[derive(Clone, Copy, Debug, Default)]
pub struct Signin<'a> {
    /// A user is signed in, and their account is enabled.
    pub user: bool,
    /// When the session's login happened.
    pub auth_time: Option<i64>,
    /// When the user logged in within this very request (its interaction): that login is the
    /// one `prompt=login` and `max_age` ask for, and is not asked for again on resuming.
    pub fresh_login_at: Option<i64>,
    /// The session's RFC 8176 methods.
    pub amr: Option<&'a str>,
}

/// What a request and its client ask of the sign-in.
#[derive(Clone, Copy, Debug, Default)]
pub struct Demand<'a> {
    /// The client's minimum class: a must.
    pub minimum: Option<Acr>,
    /// The request's `acr_values`: voluntary, and only values the user can reach count.
    pub acr_values: Option<&'a str>,
    /// Seconds the last login may be old (OIDC `max_age`; 0 asks for a login every time).
    pub max_age: Option<i64>,
    /// `prompt=login`.
    pub prompt_login: bool,
    /// `prompt=none`: no page may be shown, so what is voluntary is dropped.
    pub passive: bool,
}

/// The methods a session's stored `amr` says; a session from before methods were recorded
/// logged in with a password.
pub fn methods_of(amr: Option<&str>) -> Methods {
    Methods::parse(amr.unwrap_or("pwd"))
}

/// The class a session's stored `amr` reaches.
pub fn class_of(amr: Option<&str>) -> Acr {
    methods_of(amr).acr()
}

/// Where a session stands against a demand. `enrolled` reads the user's factors, only when a
/// class is asked for (most requests ask none).
pub fn requirement<E>(
    now: i64,
    signin: &Signin<'_>,
    demand: &Demand<'_>,
    enrolled: impl FnOnce() -> Result<Factors, E>,
) -> Result<Requirement, E> {
    let too_old = match (demand.max_age, signin.fresh_login_at, signin.auth_time) {
        (None, ..) => false,
        // max_age=0 is prompt=login (OIDC Core §3.1.2.1): the login in this interaction is it.
        (Some(0), fresh, _) => fresh.is_none(),
        (Some(m), Some(t), _) | (Some(m), None, Some(t)) => now - t > m,
        (Some(_), None, None) => true,
    };
    if !signin.user || too_old || (demand.prompt_login && signin.fresh_login_at.is_none()) {
        return Ok(Requirement::Login);
    }
    if demand.minimum.is_none() && demand.acr_values.is_none() {
        return Ok(Requirement::Satisfied);
    }
    let enrolled = enrolled()?;
    let current = class_of(signin.amr);
    let requested = acr::requested(demand.acr_values, |a| enrolled.reachable(a));
    let needed = demand.minimum.max(requested).filter(|n| *n > current);
    // Without interaction only the client's minimum is a must; acr_values is voluntary (the
    // id_token then says the class the session has).
    let must = !demand.passive || demand.minimum > Some(current);
    Ok(match needed.filter(|_| must) {
        None => Requirement::Satisfied,
        Some(n) if enrolled.reachable(n) => Requirement::StepUp(n),
        Some(n) => Requirement::Enrol(n),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    const NOW: i64 = 10_000;

    fn factors(totp: bool, passkeys: usize) -> Factors {
        Factors {
            totp,
            passkeys,
            recovery_left: 0,
        }
    }

    fn signed_in(amr: &str) -> Signin<'_> {
        Signin {
            user: true,
            auth_time: Some(NOW - 100),
            fresh_login_at: None,
            amr: Some(amr),
        }
    }

    fn ask(signin: &Signin<'_>, demand: &Demand<'_>, f: Factors) -> Requirement {
        requirement(NOW, signin, demand, || Ok::<_, Infallible>(f)).unwrap_or_else(|e| match e {})
    }

    #[test]
    fn nobody_signed_in_means_login() {
        let none = Signin::default();
        assert_eq!(
            ask(&none, &Demand::default(), factors(false, 0)),
            Requirement::Login
        );
        let disabled = Signin {
            user: false,
            ..signed_in("pwd")
        };
        assert_eq!(
            ask(&disabled, &Demand::default(), factors(true, 1)),
            Requirement::Login
        );
    }

    #[test]
    fn a_plain_request_is_satisfied_without_reading_factors() {
        let r = requirement(NOW, &signed_in("pwd"), &Demand::default(), || {
            Err::<Factors, &str>("factors were read")
        });
        assert_eq!(r, Ok(Requirement::Satisfied));
    }

    #[test]
    fn max_age_and_prompt_login_ask_for_a_login_unless_it_happened_in_this_request() {
        let s = signed_in("pwd");
        let old = Demand {
            max_age: Some(50),
            ..Demand::default()
        };
        assert_eq!(ask(&s, &old, factors(false, 0)), Requirement::Login);
        let young_enough = Demand {
            max_age: Some(500),
            ..Demand::default()
        };
        assert_eq!(
            ask(&s, &young_enough, factors(false, 0)),
            Requirement::Satisfied
        );
        for d in [
            Demand {
                max_age: Some(0),
                ..Demand::default()
            },
            Demand {
                prompt_login: true,
                ..Demand::default()
            },
        ] {
            assert_eq!(ask(&s, &d, factors(false, 0)), Requirement::Login);
            let fresh = Signin {
                fresh_login_at: Some(NOW - 5),
                ..s
            };
            assert_eq!(ask(&fresh, &d, factors(false, 0)), Requirement::Satisfied);
        }
        // A login in this request counts for max_age even when the session's is older.
        let fresh = Signin {
            fresh_login_at: Some(NOW - 10),
            auth_time: Some(NOW - 1000),
            ..s
        };
        assert_eq!(ask(&fresh, &old, factors(false, 0)), Requirement::Satisfied);
        let never = Signin {
            auth_time: None,
            ..s
        };
        assert_eq!(ask(&never, &old, factors(false, 0)), Requirement::Login);
    }

    #[test]
    fn a_client_minimum_steps_up_with_a_factor_and_enrols_without_one() {
        let two = Demand {
            minimum: Some(Acr::TwoFactor),
            ..Demand::default()
        };
        let pwd = signed_in("pwd");
        assert_eq!(
            ask(&pwd, &two, factors(true, 0)),
            Requirement::StepUp(Acr::TwoFactor)
        );
        assert_eq!(
            ask(&pwd, &two, factors(false, 0)),
            Requirement::Enrol(Acr::TwoFactor)
        );
        assert_eq!(
            ask(&signed_in("pwd otp mfa"), &two, factors(true, 0)),
            Requirement::Satisfied
        );
        // A phishing-resistant minimum needs a passkey: a TOTP user enrols one.
        let phr = Demand {
            minimum: Some(Acr::PhishingResistant),
            ..Demand::default()
        };
        assert_eq!(
            ask(&signed_in("pwd otp mfa"), &phr, factors(true, 0)),
            Requirement::Enrol(Acr::PhishingResistant)
        );
        assert_eq!(
            ask(&signed_in("pwd otp mfa"), &phr, factors(true, 1)),
            Requirement::StepUp(Acr::PhishingResistant)
        );
        // The minimum holds even with prompt=none (then answered interaction_required).
        let passive = Demand {
            passive: true,
            ..two
        };
        assert_eq!(
            ask(&pwd, &passive, factors(true, 0)),
            Requirement::StepUp(Acr::TwoFactor)
        );
    }

    #[test]
    fn acr_values_are_voluntary() {
        let asks = Demand {
            acr_values: Some("urn:ostiary:acr:2fa"),
            ..Demand::default()
        };
        let pwd = signed_in("pwd");
        // Reachable: asked for, the step follows.
        assert_eq!(
            ask(&pwd, &asks, factors(true, 0)),
            Requirement::StepUp(Acr::TwoFactor)
        );
        // Unreachable: nothing is forced (never an enrolment for a voluntary value).
        assert_eq!(ask(&pwd, &asks, factors(false, 0)), Requirement::Satisfied);
        // Without interaction, a voluntary value is dropped.
        let passive = Demand {
            passive: true,
            ..asks
        };
        assert_eq!(
            ask(&pwd, &passive, factors(true, 0)),
            Requirement::Satisfied
        );
        // Unknown values are ignored; the first reachable one in order of preference counts.
        let list = Demand {
            acr_values: Some("urn:unknown phr urn:ostiary:acr:2fa"),
            ..Demand::default()
        };
        assert_eq!(
            ask(&pwd, &list, factors(true, 0)),
            Requirement::StepUp(Acr::TwoFactor)
        );
        assert_eq!(
            ask(&pwd, &list, factors(true, 1)),
            Requirement::StepUp(Acr::PhishingResistant)
        );
    }

    #[test]
    fn a_session_without_recorded_methods_logged_in_with_a_password() {
        assert_eq!(class_of(None), Acr::OneFactor);
        assert_eq!(methods_of(None).to_string(), "pwd");
    }
}
