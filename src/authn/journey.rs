//! The login journey: one state machine for every way a person proves who they are, and what
//! each step decides — whether another step follows, the authentication time, the methods
//! (RFC 8176 `amr`, whose class `acr::Acr::of_amr` reads).
//!
//! ```text
//!    Start ──┬─ Pwd | Upstream, the user has a factor ───► SecondFactor ── Factor ───┐
//!            ├─ Pwd | Upstream, no factor, needed ───┐                               │
//!            ├─ AccountCreated, a factor required ───┴─► Enrol ──────── Enrolled ────┤
//!            ├─ Pwd / Upstream / AccountCreated, none required ──────────────────────┤
//!            └─ Passkey alone (username-less) ───────────────────────────────────────┴─► Completed
//!                                                                                    (a new session)
//!    StepUp(the session's methods) ── Factor | Enrolled ──► SteppedUp (methods merged)
//! ```
//!
//! Kanidm's `idm/authsession` is the model: the state is a value, each step is checked against
//! it, and anything else is refused. The state between two steps (`Pending`) travels in a signed
//! cookie (`web::pending_login`), so nothing is stored; `resume` checks it against the account as
//! it is now. Pure: no I/O, no HTTP; the services (`login`) and the handlers do the reading and
//! writing around it.

use serde::{Deserialize, Serialize};

use super::acr::{Method, Methods};
use super::second_factor::Factors;
use crate::config::{SecondFactorPolicy, SecondFactorSettings, Settings};
use crate::db::models::users::User;

/// How long a pending step lives: time to fetch a phone and type a code, or to set one up.
pub const TTL: i64 = 600;

/// Which step a pending login waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A second factor is asked for.
    Verify,
    /// A second factor must be enrolled first (policy `required`).
    Enrol,
}

/// A login between its first step and the next: who passed, when, with what, and for which
/// password. What the browser carries (signed) between the two pages; the field names are the
/// cookie's format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "t")]
    pub auth_time: i64,
    #[serde(rename = "m")]
    pub amr: String,
    #[serde(rename = "s")]
    pub stage: Stage,
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// A fingerprint of the password hash the first step checked: a password change (a reset,
    /// an administrator's) voids every pending login made with the old one.
    #[serde(rename = "p")]
    pub password: String,
}

/// What `Pending::password` holds for a user's current password hash.
pub fn password_fingerprint(password_hash: &str) -> String {
    crate::random::sha256_hex(&format!("pending-login:{password_hash}"))[..16].to_owned()
}

impl Pending {
    fn new(user: &User, methods: &Methods, stage: Stage, now: i64) -> Pending {
        Pending {
            user_id: user.id.clone(),
            auth_time: now,
            amr: methods.to_string(),
            stage,
            expires_at: now + TTL,
            password: password_fingerprint(&user.password_hash),
        }
    }

    pub fn methods(&self) -> Methods {
        Methods::parse(&self.amr)
    }
}

/// Where a journey stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing proved yet.
    Start,
    /// The password passed; the user has a factor, which must follow.
    SecondFactor(Pending),
    /// The first step passed and the policy requires a factor the user does not have: one is
    /// set up (and proved once) before the login completes.
    Enrol(Pending),
    /// A signed-in session with these methods asks for a stronger class: it proves what is
    /// missing (never the password again) and keeps what it had.
    StepUp(Methods),
}

/// Who created an account that a login follows at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Creation {
    /// Self-service sign-up: its address is unproven, so where only verified addresses may log
    /// in, the login waits for the verification link.
    SignUp,
    /// First-run setup: the one-time link logged by the server is the credential, and the
    /// first administrator has nobody to verify their address for them.
    Setup,
}

/// What a step proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof<'a> {
    /// The right password (`authn::password::check` decided); `enrolled` is what the user has.
    Password { enrolled: &'a Factors },
    /// An upstream identity provider's login (`federation::flow`), with the methods it counts
    /// for (`fed`, plus the upstream's own where the provider is trusted for them); `enrolled`
    /// is what the user has here: second factors and enrolment apply as after a password.
    Upstream {
        methods: &'a [Method],
        enrolled: &'a Factors,
    },
    /// A passkey alone (username-less), with the methods its assertion proved.
    Passkey(&'a [Method]),
    /// An account created a moment ago with its password.
    AccountCreated(Creation),
    /// A factor the user has: a code, a recovery code, a passkey assertion.
    Factor(&'a [Method]),
    /// A factor set up and proved once (an app's first code, a new passkey).
    Enrolled(&'a [Method]),
}

/// What follows a step.
#[derive(Debug)]
pub enum Next {
    /// The login is complete: a new session with these.
    Completed(Completed),
    /// Another step follows: the browser carries this to its page.
    Continue(Pending),
    /// A signed-in session proved more: its methods are now these.
    SteppedUp(Methods),
}

/// A login that completed.
#[derive(Debug)]
pub struct Completed {
    pub user: Box<User>,
    pub auth_time: i64,
    /// RFC 8176 methods, space-separated.
    pub amr: String,
}

/// Why a step was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A second factor or an enrolment with no first step before it (or for another user).
    NoPendingStep,
    /// A step this state does not take: a factor where one is enrolled, an enrolment where a
    /// factor is asked for, a first step in the middle of a journey.
    OutOfOrder,
    /// The account is disabled.
    Disabled,
    /// This deployment lets only verified addresses log in.
    EmailNotVerified,
}

/// Why a pending login can no longer continue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Void {
    Expired,
    /// It waits for another step than the page it was presented to.
    OtherStage,
    /// The account is gone or disabled.
    AccountGone,
    /// The password changed since the first step.
    PasswordChanged,
    /// It would enrol a factor, but the user has one now: their login must use it (a left-over
    /// enrolment cannot add another factor).
    HasFactor,
}

/// The deployment's rules a journey follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub second_factor: SecondFactorSettings,
    pub verified_email: bool,
}

impl Rules {
    pub fn of(settings: &Settings) -> Rules {
        Rules {
            second_factor: settings.second_factor,
            verified_email: settings.require_verified_email,
        }
    }

    /// Whether this user must have a second factor before a login completes.
    pub fn factor_required(&self, user: &User) -> bool {
        self.second_factor.for_user(user.is_admin) == SecondFactorPolicy::Required
    }
}

/// A pending login presented for the step at `at`, checked against `user`'s account as it is
/// now (`None`: unknown). `enrolled` reads the user's factors, only for an enrolment.
pub fn resume<E>(
    pending: Pending,
    at: Stage,
    user: Option<&User>,
    now: i64,
    enrolled: impl FnOnce() -> Result<Factors, E>,
) -> Result<Result<State, Void>, E> {
    if pending.expires_at <= now {
        return Ok(Err(Void::Expired));
    }
    if pending.stage != at {
        return Ok(Err(Void::OtherStage));
    }
    let Some(user) = user.filter(|u| !u.disabled && u.id == pending.user_id) else {
        return Ok(Err(Void::AccountGone));
    };
    if password_fingerprint(&user.password_hash) != pending.password {
        return Ok(Err(Void::PasswordChanged));
    }
    Ok(Ok(match at {
        Stage::Verify => State::SecondFactor(pending),
        Stage::Enrol if enrolled()?.any() => return Ok(Err(Void::HasFactor)),
        Stage::Enrol => State::Enrol(pending),
    }))
}

/// The one transition: `user` proved `proof` in `state`, at `now`.
pub fn advance(
    state: State,
    user: Box<User>,
    proof: Proof<'_>,
    rules: &Rules,
    now: i64,
) -> Result<Next, Refused> {
    if user.disabled {
        return Err(Refused::Disabled);
    }
    let completed = |user, methods: Methods| {
        Next::Completed(Completed {
            user,
            auth_time: now,
            amr: methods.to_string(),
        })
    };
    match (state, proof) {
        (State::Start, Proof::Password { enrolled }) => {
            first_step(user, Methods::password(), enrolled, rules, now)
        }
        (State::Start, Proof::Upstream { methods, enrolled }) => {
            first_step(user, Methods::from_step(methods), enrolled, rules, now)
        }
        (State::Start, Proof::Passkey(step)) => {
            if rules.verified_email && !user.email_verified {
                return Err(Refused::EmailNotVerified);
            }
            Ok(completed(user, Methods::from_step(step)))
        }
        (State::Start, Proof::AccountCreated(by)) => {
            if by == Creation::SignUp && rules.verified_email && !user.email_verified {
                return Err(Refused::EmailNotVerified);
            }
            // A new account has no factor: where one is required, it is set up first.
            let methods = Methods::password();
            if rules.factor_required(&user) {
                Ok(Next::Continue(Pending::new(
                    &user,
                    &methods,
                    Stage::Enrol,
                    now,
                )))
            } else {
                Ok(completed(user, methods))
            }
        }
        (State::Start, Proof::Factor(_) | Proof::Enrolled(_)) => Err(Refused::NoPendingStep),
        (State::SecondFactor(p), Proof::Factor(step))
        | (State::Enrol(p), Proof::Enrolled(step)) => {
            if p.user_id != user.id {
                return Err(Refused::NoPendingStep);
            }
            Ok(completed(user, p.methods().with(step)))
        }
        (State::StepUp(had), Proof::Factor(step) | Proof::Enrolled(step)) => {
            Ok(Next::SteppedUp(had.with(step)))
        }
        (
            State::SecondFactor(_) | State::Enrol(_) | State::StepUp(_),
            Proof::Password { .. }
            | Proof::Upstream { .. }
            | Proof::Passkey(_)
            | Proof::AccountCreated(_)
            | Proof::Factor(_)
            | Proof::Enrolled(_),
        ) => Err(Refused::OutOfOrder),
    }
}

/// A first step that proved who the person is (a password, an upstream login): the factor the
/// user has follows, or its enrolment where one is required; otherwise the login is complete.
fn first_step(
    user: Box<User>,
    methods: Methods,
    enrolled: &Factors,
    rules: &Rules,
    now: i64,
) -> Result<Next, Refused> {
    if rules.verified_email && !user.email_verified {
        return Err(Refused::EmailNotVerified);
    }
    let stage = if enrolled.any() {
        Stage::Verify
    } else if rules.factor_required(&user) {
        Stage::Enrol
    } else {
        return Ok(Next::Completed(Completed {
            user,
            auth_time: now,
            amr: methods.to_string(),
        }));
    };
    Ok(Next::Continue(Pending::new(&user, &methods, stage, now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::acr::Acr;
    use std::convert::Infallible;

    const NOW: i64 = 50_000;

    fn user(admin: bool) -> Box<User> {
        Box::new(User {
            id: "u1".into(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            email_verified: true,
            name: None,
            given_name: None,
            family_name: None,
            password_hash: "$argon2id$first".into(),
            is_admin: admin,
            disabled: false,
            created_at: 0,
            updated_at: 0,
            email_key: None,
            username_skeleton: None,
            profile_claims: None,
        })
    }

    fn rules(users: SecondFactorPolicy, admins: SecondFactorPolicy) -> Rules {
        Rules {
            second_factor: SecondFactorSettings { users, admins },
            verified_email: false,
        }
    }

    fn optional() -> Rules {
        rules(SecondFactorPolicy::Optional, SecondFactorPolicy::Optional)
    }

    fn required() -> Rules {
        rules(SecondFactorPolicy::Required, SecondFactorPolicy::Required)
    }

    const NONE: Factors = Factors {
        totp: false,
        passkeys: 0,
        recovery_left: 0,
    };
    const TOTP: Factors = Factors {
        totp: true,
        passkeys: 0,
        recovery_left: 10,
    };

    fn completed(next: Result<Next, Refused>) -> Completed {
        match next {
            Ok(Next::Completed(c)) => c,
            other => panic!("expected a completed login, got {other:?}"),
        }
    }

    fn pending(next: Result<Next, Refused>) -> Pending {
        match next {
            Ok(Next::Continue(p)) => p,
            other => panic!("expected a pending step, got {other:?}"),
        }
    }

    fn password(f: &Factors, r: &Rules) -> Result<Next, Refused> {
        advance(
            State::Start,
            user(false),
            Proof::Password { enrolled: f },
            r,
            NOW,
        )
    }

    fn resumed(p: Pending, at: Stage, u: Option<&User>, f: Factors) -> Result<State, Void> {
        resume(p, at, u, NOW + 1, || Ok::<_, Infallible>(f)).unwrap_or_else(|e| match e {})
    }

    #[test]
    fn a_password_alone_completes_a_login_without_factors() {
        let c = completed(password(&NONE, &optional()));
        assert_eq!((c.amr.as_str(), c.auth_time), ("pwd", NOW));
        assert_eq!(Acr::of_amr(&c.amr), Acr::OneFactor);
    }

    #[test]
    fn a_password_asks_for_the_factor_the_user_has() {
        // Whatever the policy: a factor enrolled is a factor asked for.
        for r in [optional(), required()] {
            let p = pending(password(&TOTP, &r));
            assert_eq!(p.stage, Stage::Verify);
            assert_eq!((p.user_id.as_str(), p.amr.as_str()), ("u1", "pwd"));
            assert_eq!(p.expires_at, NOW + TTL);
            assert_eq!(p.password, password_fingerprint("$argon2id$first"));
        }
    }

    #[test]
    fn a_password_without_a_required_factor_leads_to_enrolment() {
        assert_eq!(pending(password(&NONE, &required())).stage, Stage::Enrol);
        // The policy for administrators is their own.
        let admins_only = rules(SecondFactorPolicy::Optional, SecondFactorPolicy::Required);
        assert!(matches!(
            password(&NONE, &admins_only),
            Ok(Next::Completed(_))
        ));
        let admin = advance(
            State::Start,
            user(true),
            Proof::Password { enrolled: &NONE },
            &admins_only,
            NOW,
        );
        assert_eq!(pending(admin).stage, Stage::Enrol);
    }

    #[test]
    fn unverified_addresses_are_refused_where_the_rules_say_so() {
        let mut u = user(false);
        u.email_verified = false;
        let strict = Rules {
            verified_email: true,
            ..optional()
        };
        let pwd = Proof::Password { enrolled: &NONE };
        let key = Methods::passkey(true, true);
        for proof in [
            pwd,
            Proof::Passkey(&key),
            Proof::AccountCreated(Creation::SignUp),
        ] {
            assert_eq!(
                advance(State::Start, u.clone(), proof, &strict, NOW).err(),
                Some(Refused::EmailNotVerified)
            );
            assert!(advance(State::Start, u.clone(), proof, &optional(), NOW).is_ok());
        }
        // The first administrator, created from the server's own link, is let in.
        let setup = advance(
            State::Start,
            u,
            Proof::AccountCreated(Creation::Setup),
            &strict,
            NOW,
        );
        assert!(matches!(setup, Ok(Next::Completed(_))));
    }

    #[test]
    fn a_disabled_account_takes_no_step() {
        let mut u = user(false);
        u.disabled = true;
        let key = Methods::passkey(false, true);
        let p = pending(password(&TOTP, &optional()));
        for (state, proof) in [
            (State::Start, Proof::Passkey(&key)),
            (State::SecondFactor(p), Proof::Factor(&[Method::Otp])),
            (State::StepUp(Methods::password()), Proof::Factor(&key)),
        ] {
            assert_eq!(
                advance(state, u.clone(), proof, &optional(), NOW).err(),
                Some(Refused::Disabled)
            );
        }
    }

    #[test]
    fn the_second_factor_completes_the_login_with_both_methods() {
        let p = pending(password(&TOTP, &optional()));
        let state = resumed(p, Stage::Verify, Some(&user(false)), TOTP);
        let state = state.unwrap_or_else(|v| panic!("void: {v:?}"));
        let c = completed(advance(
            state.clone(),
            user(false),
            Proof::Factor(&[Method::Otp]),
            &optional(),
            NOW + 30,
        ));
        assert_eq!(c.amr, "pwd otp mfa");
        assert_eq!(Acr::of_amr(&c.amr), Acr::TwoFactor);
        // The login happened when its last step did.
        assert_eq!(c.auth_time, NOW + 30);
        let key = Methods::passkey(false, true);
        let c = completed(advance(
            state,
            user(false),
            Proof::Factor(&key),
            &optional(),
            NOW,
        ));
        assert_eq!(Acr::of_amr(&c.amr), Acr::PhishingResistant);
    }

    #[test]
    fn a_passkey_alone_completes_a_login() {
        let key = Methods::passkey(true, true);
        let c = completed(advance(
            State::Start,
            user(false),
            Proof::Passkey(&key),
            &required(),
            NOW,
        ));
        assert_eq!(c.amr, "swk user mfa");
    }

    #[test]
    fn no_second_factor_without_a_pending_first_step() {
        for proof in [
            Proof::Factor(&[Method::Otp]),
            Proof::Enrolled(&[Method::Otp]),
        ] {
            assert_eq!(
                advance(State::Start, user(false), proof, &optional(), NOW).err(),
                Some(Refused::NoPendingStep)
            );
        }
        // Nor for another user than the one who passed the first step.
        let p = pending(password(&TOTP, &optional()));
        let mut other = user(false);
        other.id = "u2".into();
        let step = advance(
            State::SecondFactor(p),
            other,
            Proof::Factor(&[Method::Otp]),
            &optional(),
            NOW,
        );
        assert_eq!(step.err(), Some(Refused::NoPendingStep));
    }

    #[test]
    fn steps_out_of_order_are_refused() {
        let verify = pending(password(&TOTP, &optional()));
        let enrol = pending(password(&NONE, &required()));
        let otp = [Method::Otp];
        for (state, proof) in [
            // A factor being asked for is not set up instead.
            (State::SecondFactor(verify.clone()), Proof::Enrolled(&otp)),
            (State::Enrol(enrol.clone()), Proof::Factor(&otp)),
            // A first step does not continue a journey under way.
            (
                State::SecondFactor(verify),
                Proof::Password { enrolled: &TOTP },
            ),
            (State::Enrol(enrol), Proof::AccountCreated(Creation::SignUp)),
            (State::StepUp(Methods::password()), Proof::Passkey(&otp)),
        ] {
            assert_eq!(
                advance(state, user(false), proof, &required(), NOW).err(),
                Some(Refused::OutOfOrder)
            );
        }
    }

    #[test]
    fn enrolment_completes_the_login() {
        let p = pending(password(&NONE, &required()));
        let state = resumed(p, Stage::Enrol, Some(&user(false)), NONE);
        let state = state.unwrap_or_else(|v| panic!("void: {v:?}"));
        let c = completed(advance(
            state,
            user(false),
            Proof::Enrolled(&[Method::Otp]),
            &required(),
            NOW,
        ));
        assert_eq!(c.amr, "pwd otp mfa");
    }

    #[test]
    fn enrolment_is_only_for_a_user_without_a_factor() {
        let p = pending(password(&NONE, &required()));
        // Meanwhile a factor was set up (another tab): the left-over enrolment is void.
        assert_eq!(
            resumed(p, Stage::Enrol, Some(&user(false)), TOTP),
            Err(Void::HasFactor)
        );
    }

    #[test]
    fn a_pending_login_is_void_after_a_password_change() {
        let p = pending(password(&TOTP, &optional()));
        let mut changed = user(false);
        changed.password_hash = "$argon2id$second".into();
        assert_eq!(
            resumed(p.clone(), Stage::Verify, Some(&changed), TOTP),
            Err(Void::PasswordChanged)
        );
        assert!(resumed(p, Stage::Verify, Some(&user(false)), TOTP).is_ok());
    }

    #[test]
    fn a_pending_login_is_void_when_expired_elsewhere_or_for_a_gone_account() {
        let p = pending(password(&TOTP, &optional()));
        let u = user(false);
        let late = resume(p.clone(), Stage::Verify, Some(&u), NOW + TTL, || {
            Ok::<_, Infallible>(TOTP)
        });
        assert_eq!(late.ok(), Some(Err(Void::Expired)));
        // A second-factor step is no enrolment, and the reverse.
        assert_eq!(
            resumed(p.clone(), Stage::Enrol, Some(&u), NONE),
            Err(Void::OtherStage)
        );
        let enrol = pending(password(&NONE, &required()));
        assert_eq!(
            resumed(enrol, Stage::Verify, Some(&u), NONE),
            Err(Void::OtherStage)
        );
        let mut disabled = user(false);
        disabled.disabled = true;
        assert_eq!(
            resumed(p.clone(), Stage::Verify, Some(&disabled), TOTP),
            Err(Void::AccountGone)
        );
        assert_eq!(
            resumed(p, Stage::Verify, None, TOTP),
            Err(Void::AccountGone)
        );
    }

    #[test]
    fn factors_are_read_only_for_an_enrolment() {
        let p = pending(password(&TOTP, &optional()));
        let r = resume(p, Stage::Verify, Some(&user(false)), NOW, || {
            Err::<Factors, &str>("factors were read")
        });
        assert!(matches!(r, Ok(Ok(State::SecondFactor(_)))));
    }

    #[test]
    fn an_account_created_logs_in_or_enrols_first() {
        for by in [Creation::SignUp, Creation::Setup] {
            let c = completed(advance(
                State::Start,
                user(true),
                Proof::AccountCreated(by),
                &optional(),
                NOW,
            ));
            assert_eq!((c.amr.as_str(), c.auth_time), ("pwd", NOW));
            let p = pending(advance(
                State::Start,
                user(true),
                Proof::AccountCreated(by),
                &required(),
                NOW,
            ));
            assert_eq!((p.stage, p.amr.as_str()), (Stage::Enrol, "pwd"));
        }
    }

    #[test]
    fn step_up_merges_methods_into_the_session() {
        let had = Methods::password();
        let next = advance(
            State::StepUp(had.clone()),
            user(false),
            Proof::Factor(&[Method::Otp]),
            &optional(),
            NOW,
        );
        let Ok(Next::SteppedUp(m)) = next else {
            panic!("expected a step-up, got {next:?}");
        };
        assert_eq!(m.to_string(), "pwd otp mfa");
        // Setting a factor up while signed in counts the same way, and nothing is lost.
        let key = Methods::passkey(false, false);
        let next = advance(
            State::StepUp(m),
            user(false),
            Proof::Enrolled(&key),
            &optional(),
            NOW,
        );
        let Ok(Next::SteppedUp(m)) = next else {
            panic!("expected a step-up, got {next:?}");
        };
        assert_eq!(m.to_string(), "pwd otp hwk user mfa");
        assert_eq!(m.acr(), Acr::PhishingResistant);
    }

    #[test]
    fn an_upstream_login_is_a_first_step_like_a_password() {
        let fed = [Method::Fed];
        let upstream = |f: &Factors, r: &Rules| {
            advance(
                State::Start,
                user(false),
                Proof::Upstream {
                    methods: &fed,
                    enrolled: f,
                },
                r,
                NOW,
            )
        };
        let c = completed(upstream(&NONE, &optional()));
        assert_eq!(c.amr, "fed");
        assert_eq!(Acr::of_amr(&c.amr), Acr::OneFactor);
        // Federation does not bypass the journey: the factor the user has is asked for, and
        // a required one is enrolled first.
        let p = pending(upstream(&TOTP, &optional()));
        assert_eq!((p.stage, p.amr.as_str()), (Stage::Verify, "fed"));
        assert_eq!(pending(upstream(&NONE, &required())).stage, Stage::Enrol);
        let c = completed(advance(
            State::SecondFactor(p),
            user(false),
            Proof::Factor(&[Method::Otp]),
            &optional(),
            NOW,
        ));
        assert_eq!(c.amr, "otp mfa fed");
        assert_eq!(Acr::of_amr(&c.amr), Acr::TwoFactor);
    }

    #[test]
    fn the_pending_state_keeps_the_cookie_format() {
        let old = r#"{"u":"u1","t":7,"m":"pwd","s":"enrol","e":9,"p":"0123456789abcdef"}"#;
        let p: Pending = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.stage, p.auth_time, p.expires_at), (Stage::Enrol, 7, 9));
        let again = serde_json::to_string(&p).unwrap_or_default();
        assert_eq!(again, old);
    }
}
