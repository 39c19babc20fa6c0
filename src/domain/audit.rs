//! What the audit log records: who acted (`Actor`) and what happened (`Event`). Typed so every
//! writer says the same thing the same way; stored as short strings (`user:ID`, `user.add`) so
//! the log stays readable with plain SQL.

use std::fmt;

use super::ids::{ClientId, UserId};

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A person acting on their own account (or their own login).
    User(UserId),
    /// An administrator acting through the console.
    Admin(UserId),
    /// Someone at the command line (config as code too), by operating-system user.
    Cli(String),
    /// An OAuth client acting for itself (dynamic registration management, RFC 7592).
    Client(ClientId),
    /// Someone not (yet) known: a failed login, a self-registration, a password reset link.
    Anonymous,
    /// The server itself (schedules, janitors).
    System,
}

impl Actor {
    /// The operator at this terminal.
    pub fn cli() -> Actor {
        Actor::Cli(std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
    }

    /// How the actor is stored.
    pub fn encode(&self) -> String {
        match self {
            Actor::User(id) => format!("user:{id}"),
            Actor::Admin(id) => format!("admin:{id}"),
            Actor::Cli(name) => format!("cli:{name}"),
            Actor::Client(id) => format!("client:{id}"),
            Actor::Anonymous => "anonymous".into(),
            Actor::System => "system".into(),
        }
    }

    /// A stored actor; `None` for values written before actors were typed (a bare username
    /// or user id), which are shown as they are.
    pub fn decode(stored: &str) -> Option<Actor> {
        let (kind, rest) = stored.split_once(':').unwrap_or((stored, ""));
        Some(match (kind, rest) {
            ("user", id) if !id.is_empty() => Actor::User(UserId::from_stored(id)),
            ("admin", id) if !id.is_empty() => Actor::Admin(UserId::from_stored(id)),
            ("cli", name) => Actor::Cli(name.to_owned()),
            ("client", id) if !id.is_empty() => Actor::Client(ClientId::from_stored(id)),
            ("anonymous", "") => Actor::Anonymous,
            ("system", "") => Actor::System,
            _ => return None,
        })
    }
}

macro_rules! events {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// What happened. The stored names are stable: tests, dashboards and people query them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Event { $($variant),* }

        impl Event {
            pub const ALL: &'static [Event] = &[$(Event::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Event::$variant => $name),* }
            }
        }
    };
}

events! {
    // Logins and proofs
    LoginSuccess => "login.success",
    LoginFailure => "login.failure",
    LoginPasskey => "login.passkey",
    ReauthSuccess => "reauth.success",
    ReauthFailure => "reauth.failure",
    PasswordChangeVerified => "password_change.verified",
    PasswordChangeFailure => "password_change.failure",
    SecondFactorTotp => "second_factor.totp",
    SecondFactorRecoveryCode => "second_factor.recovery_code",
    SecondFactorPasskey => "second_factor.passkey",
    SecondFactorFailure => "second_factor.failure",
    SecondFactorPasskeyFailure => "second_factor.passkey_failure",
    SecondFactorReusedCode => "second_factor.reused_code",
    // Lockouts
    LockoutAccount => "lockout.account",
    LockoutAddress => "lockout.address",
    LockoutSecondFactor => "lockout.second_factor",
    LockoutUnlockAccount => "lockout.unlock_account",
    LockoutUnlockAddress => "lockout.unlock_address",
    // A person's own account
    UserSignup => "user.signup",
    AccountPassword => "account.password",
    AccountPasswordReset => "account.password_reset",
    AccountEmailChangeRequested => "account.email_change_requested",
    AccountEmailChanged => "account.email_changed",
    AccountEndSession => "account.end_session",
    AccountEndOtherSessions => "account.end_other_sessions",
    AccountRevokeApp => "account.revoke_app",
    AccountProfile => "account.profile",
    TotpEnrolled => "second_factor.totp_enrolled",
    TotpRemoved => "second_factor.totp_removed",
    RecoveryCodesIssued => "second_factor.recovery_codes",
    PasskeyAdded => "second_factor.passkey_added",
    PasskeyRemoved => "second_factor.passkey_removed",
    // Administration of accounts
    UserAdd => "user.add",
    UserSetPassword => "user.set_password",
    UserResetPassword => "user.reset_password",
    UserDisable => "user.disable",
    UserEnable => "user.enable",
    UserGrantAdmin => "user.grant_admin",
    UserRevokeAdmin => "user.revoke_admin",
    UserResetFactors => "user.reset_factors",
    UserEndSession => "user.end_session",
    UserEndSessions => "user.end_sessions",
    UserResendVerification => "user.resend_verification",
    UserProfile => "user.profile",
    SignupInvite => "signup.invite",
    // Clients
    ClientAdd => "client.add",
    ClientUpdate => "client.update",
    ClientRemove => "client.remove",
    ClientRotateSecret => "client.rotate_secret",
    ClientMinimumAcr => "client.minimum_acr",
    ClientVerify => "client.verify",
    ClientUnverify => "client.unverify",
    ClientDisable => "client.disable",
    ClientEnable => "client.enable",
    ClientRegister => "client.register",
    ClientRegisterUpdate => "client.register_update",
    ClientRegisterDelete => "client.register_delete",
    ClientApplyCreate => "client.apply_create",
    ClientApplyUpdate => "client.apply_update",
    ClientApplyDelete => "client.apply_delete",
    // Registration policy and keys
    RegistrationPolicy => "registration.policy",
    RegistrationTokenCreate => "registration.token_create",
    RegistrationTokenRevoke => "registration.token_revoke",
    KeysRotate => "keys.rotate",
    // Federation and groups
    UpstreamAdd => "upstream.add",
    UpstreamRemove => "upstream.remove",
    UpstreamLink => "upstream.link",
    UpstreamUnlink => "upstream.unlink",
    UpstreamCreate => "upstream.create",
    GroupAdd => "group.add",
    GroupMember => "group.member",
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_round_trip_and_old_values_are_not_mistaken_for_typed_ones() {
        for a in [
            Actor::User(UserId::from_stored("u1")),
            Actor::Admin(UserId::from_stored("u2")),
            Actor::Cli("root".into()),
            Actor::Client(ClientId::from_stored("c1")),
            Actor::Anonymous,
            Actor::System,
        ] {
            assert_eq!(Actor::decode(&a.encode()), Some(a));
        }
        assert_eq!(Actor::decode("alice"), None);
        assert_eq!(Actor::decode("registration"), None);
        assert_eq!(Actor::decode("user:"), None);
    }

    #[test]
    fn event_names_are_unique() {
        let mut names: Vec<_> = Event::ALL.iter().map(|e| e.as_str()).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
