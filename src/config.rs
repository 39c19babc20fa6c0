//! Settings: every one a CLI flag and an `OSTIARY_*` environment variable, optionally read from a
//! TOML file, with defaults that run out of the box on loopback.
//! Precedence: command-line flag, then environment, then file, then default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Deserialize;
use url::Url;

use crate::domain::net::is_loopback_host;
use crate::domain::signing::SigningAlg;

#[derive(Debug, thiserror::Error)]
#[error("database URL must start with sqlite:// or postgres:// (got {0:?})")]
pub struct UnsupportedDbUrl(pub String);

/// Which backend a URL names, with what to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbUrl {
    /// A file path (created when missing).
    Sqlite(String),
    /// A libpq connection URL, passed through unchanged.
    Postgres(String),
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<Self, UnsupportedDbUrl> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(UnsupportedDbUrl(url.to_owned()));
            }
            Ok(DbUrl::Sqlite(path.to_owned()))
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(UnsupportedDbUrl(url.to_owned()));
            }
            Ok(DbUrl::Sqlite(path.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbUrl::Postgres(url.to_owned()))
        } else {
            Err(UnsupportedDbUrl(url.to_owned()))
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DbUrl::Sqlite(_))
    }
}

/// argon2id cost parameters for user passwords (`crypto::password` hashes with them).
#[derive(Clone, Copy, Debug)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Argon2Settings {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// What a server setting is when it is not given, as `serve --help` shows it (settings whose
/// default is not one value, such as `workers`, say so in their own help). The unit test
/// `documented_defaults_are_the_defaults` gives each value explicitly and checks nothing
/// changes, so this text cannot drift from `Settings::resolve`.
pub const DOCUMENTED_DEFAULTS: &[(&str, &str)] = &[
    ("bind", "127.0.0.1:8080"),
    ("log", "info"),
    ("log_format", "human"),
    ("db_pool_size", "16"),
    ("access_token_ttl", "900"),
    ("id_token_ttl", "3600"),
    ("refresh_token_ttl", "2592000"),
    ("refresh_grace", "0"),
    ("code_ttl", "60"),
    ("session_ttl", "43200"),
    ("access_token_alg", "ES256"),
    ("key_activation_delay", "300"),
    ("argon2_memory_kib", "19456"),
    ("argon2_iterations", "2"),
    ("argon2_parallelism", "1"),
    ("password_hash_queue", "64"),
    ("maintenance_interval", "60"),
    ("key_cache_ttl", "30"),
    ("keys_refetch_pause", "5"),
    ("cache_sync_ms", "500"),
    ("account_lockout_threshold", "10"),
    ("address_lockout_threshold", "30"),
    ("lockout_duration", "900"),
    ("password_checks_per_address", "60"),
    ("password_checks_per_account", "60"),
    ("upstream_logins_per_address", "60"),
    ("registration", "token"),
    (
        "registration_grant_types",
        "authorization_code refresh_token",
    ),
    ("registration_scopes", "openid profile email"),
    ("registrations_per_address", "20"),
    ("client_id_metadata_documents", "false"),
    ("signup", "closed"),
    ("signups_per_address", "10"),
    ("require_verified_email", "false"),
    ("db_timeout", "5"),
    ("metrics_allow", "127.0.0.0/8,::1/128"),
    ("require_par", "false"),
    ("device_code_ttl", "600"),
    ("device_poll_interval", "5"),
    ("second_factor", "optional"),
    ("reset_token_ttl", "1800"),
    ("verification_token_ttl", "172800"),
    ("outbox_interval", "5"),
    ("reset_requests_per_address", "10"),
];

/// The settings every command uses (opening the database and its signing keys), given before or
/// after any command; `Cli` copies them into `SettingsArgs` before resolving.
#[derive(Args, Clone, Debug, Default)]
pub struct GlobalArgs {
    /// TOML file with settings (keys as the flag names, with underscores)
    #[arg(long, env = "OSTIARY_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database: sqlite://PATH (created when missing) or postgres://USER@HOST/DB
    /// [default: sqlite://ostiary.db]
    #[arg(long, env = "OSTIARY_DATABASE_URL", global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Directory holding the key-encryption key file when OSTIARY_KEY_ENCRYPTION_KEY is unset
    /// [default: keys]
    #[arg(long, env = "OSTIARY_KEYS_DIR", global = true, value_name = "DIR")]
    pub keys_dir: Option<PathBuf>,
    /// 32-byte key (base64 or hex) that encrypts signing keys at rest; overrides the key file
    #[arg(
        long,
        env = "OSTIARY_KEY_ENCRYPTION_KEY",
        global = true,
        value_name = "KEY",
        hide_env_values = true
    )]
    pub key_encryption_key: Option<String>,
}

impl GlobalArgs {
    /// `settings` with these (set here) in place of its own.
    pub fn over(&self, settings: SettingsArgs) -> SettingsArgs {
        SettingsArgs {
            database_url: self.database_url.clone().or(settings.database_url),
            keys_dir: self.keys_dir.clone().or(settings.keys_dir),
            key_encryption_key: self
                .key_encryption_key
                .clone()
                .or(settings.key_encryption_key),
            ..settings
        }
    }
}

/// The server's settings as flags/env (under `ostiary serve`); all optional so the file and
/// defaults can fill the gaps. The three `GlobalArgs` fields are here for the file only.
#[derive(Args, Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsArgs {
    #[arg(skip)]
    pub database_url: Option<String>,
    /// Public base URL of this server; https unless on a loopback address
    /// [default: http://BIND when BIND is a loopback address]
    #[arg(long, env = "OSTIARY_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,
    /// Address to listen on
    #[arg(long, env = "OSTIARY_BIND", value_name = "ADDR:PORT")]
    pub bind: Option<String>,
    #[arg(skip)]
    pub keys_dir: Option<PathBuf>,
    #[arg(skip)]
    pub key_encryption_key: Option<String>,
    /// Log filter, e.g. info or ostiary=debug,actix_web=info
    #[arg(long, env = "OSTIARY_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log output format
    #[arg(long, env = "OSTIARY_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Maximum database connections per process
    #[arg(long, env = "OSTIARY_DB_POOL_SIZE", value_name = "N")]
    pub db_pool_size: Option<u32>,
    /// HTTP worker threads (default: number of cores)
    #[arg(long, env = "OSTIARY_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Access-token lifetime in seconds
    #[arg(long, env = "OSTIARY_ACCESS_TOKEN_TTL", value_name = "SECONDS")]
    pub access_token_ttl: Option<i64>,
    /// id_token lifetime in seconds
    #[arg(long, env = "OSTIARY_ID_TOKEN_TTL", value_name = "SECONDS")]
    pub id_token_ttl: Option<i64>,
    /// Refresh-token lifetime in seconds
    #[arg(long, env = "OSTIARY_REFRESH_TOKEN_TTL", value_name = "SECONDS")]
    pub refresh_token_ttl: Option<i64>,
    /// Seconds during which a retried refresh token gets the same successor (0: strict rotation)
    #[arg(long, env = "OSTIARY_REFRESH_GRACE", value_name = "SECONDS")]
    pub refresh_grace: Option<i64>,
    /// Authorization-code lifetime in seconds
    #[arg(long, env = "OSTIARY_CODE_TTL", value_name = "SECONDS")]
    pub code_ttl: Option<i64>,
    /// Browser-session lifetime in seconds
    #[arg(long, env = "OSTIARY_SESSION_TTL", value_name = "SECONDS")]
    pub session_ttl: Option<i64>,
    /// Signing algorithm of JWT access tokens: RS256, ES256 or EdDSA
    #[arg(long, env = "OSTIARY_ACCESS_TOKEN_ALG", value_name = "ALG")]
    pub access_token_alg: Option<String>,
    /// Seconds a rotated-in key is published before it starts signing
    #[arg(long, env = "OSTIARY_KEY_ACTIVATION_DELAY", value_name = "SECONDS")]
    pub key_activation_delay: Option<i64>,
    /// argon2id memory cost in KiB for new password hashes
    #[arg(long, env = "OSTIARY_ARGON2_MEMORY_KIB", value_name = "KIB")]
    pub argon2_memory_kib: Option<u32>,
    /// argon2id iterations for new password hashes
    #[arg(long, env = "OSTIARY_ARGON2_ITERATIONS", value_name = "N")]
    pub argon2_iterations: Option<u32>,
    /// argon2id parallelism for new password hashes
    #[arg(long, env = "OSTIARY_ARGON2_PARALLELISM", value_name = "N")]
    pub argon2_parallelism: Option<u32>,
    /// Password hashes computed at once (default: number of cores)
    #[arg(long, env = "OSTIARY_PASSWORD_HASH_CONCURRENCY", value_name = "N")]
    pub password_hash_concurrency: Option<usize>,
    /// Password checks allowed to wait; beyond this logins get 503 + Retry-After
    #[arg(long, env = "OSTIARY_PASSWORD_HASH_QUEUE", value_name = "N")]
    pub password_hash_queue: Option<usize>,
    /// Rotate signing keys automatically when the newest is this many seconds old (off when unset)
    #[arg(long, env = "OSTIARY_KEY_ROTATION_INTERVAL", value_name = "SECONDS")]
    pub key_rotation_interval: Option<i64>,
    /// Seconds between background clean-ups of expired sessions, codes and tokens
    #[arg(long, env = "OSTIARY_MAINTENANCE_INTERVAL", value_name = "SECONDS")]
    pub maintenance_interval: Option<u64>,
    /// Seconds a process keeps decrypted signing keys before re-reading them (rotations made by
    /// the CLI or another replica are seen within this time)
    #[arg(long, env = "OSTIARY_KEY_CACHE_TTL", value_name = "SECONDS")]
    pub key_cache_ttl: Option<u64>,
    /// Seconds between two fetches of one key set (a client's jwks_uri, an upstream provider's
    /// JWKS) for tokens naming a key it does not hold; 0 fetches again at every unknown kid
    #[arg(long, env = "OSTIARY_KEYS_REFETCH_PAUSE", value_name = "SECONDS")]
    pub keys_refetch_pause: Option<u64>,
    /// Milliseconds between a process's checks of what it caches (clients, user status, the
    /// access-token deny-list) against the database; a change made elsewhere is seen within
    /// twice this. 0 turns the caches off (every request reads the database)
    #[arg(long, env = "OSTIARY_CACHE_SYNC_MS", value_name = "MILLISECONDS")]
    pub cache_sync_ms: Option<u64>,
    /// Directory whose files override the embedded static assets (css, logo)
    #[arg(long, env = "OSTIARY_STATIC_DIR", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
    /// Proxies (CIDR list, comma-separated) whose X-Forwarded-For is believed; default none
    #[arg(long, env = "OSTIARY_TRUSTED_PROXIES", value_name = "CIDRS")]
    pub trusted_proxies: Option<String>,
    /// Failed password checks per account before it is locked for a while (0: never)
    #[arg(long, env = "OSTIARY_ACCOUNT_LOCKOUT_THRESHOLD", value_name = "N")]
    pub account_lockout_threshold: Option<i64>,
    /// Failed password checks per client address before it is locked for a while (0: never)
    #[arg(long, env = "OSTIARY_ADDRESS_LOCKOUT_THRESHOLD", value_name = "N")]
    pub address_lockout_threshold: Option<i64>,
    /// Seconds a lockout lasts, and how long failures are remembered
    #[arg(long, env = "OSTIARY_LOCKOUT_DURATION", value_name = "SECONDS")]
    pub lockout_duration: Option<i64>,
    /// Password checks admitted per minute from one client address (burst: a sixth, at least 5)
    #[arg(
        long,
        env = "OSTIARY_PASSWORD_CHECKS_PER_ADDRESS",
        value_name = "PER_MINUTE"
    )]
    pub password_checks_per_address: Option<u32>,
    /// Password checks admitted per minute for one account (burst: a sixth, at least 5)
    #[arg(
        long,
        env = "OSTIARY_PASSWORD_CHECKS_PER_ACCOUNT",
        value_name = "PER_MINUTE"
    )]
    pub password_checks_per_account: Option<u32>,
    /// Logins with an upstream provider (starts and callbacks) admitted per minute from one
    /// client address (burst: a sixth, at least 5); 0: no limit
    #[arg(
        long,
        env = "OSTIARY_UPSTREAM_LOGINS_PER_ADDRESS",
        value_name = "PER_MINUTE"
    )]
    pub upstream_logins_per_address: Option<u32>,
    /// Who may register clients at /register: closed, token (an initial access token) or open
    #[arg(long, env = "OSTIARY_REGISTRATION", value_name = "POLICY")]
    pub registration: Option<String>,
    /// Grant types a self-registered client may have (space- or comma-separated)
    #[arg(long, env = "OSTIARY_REGISTRATION_GRANT_TYPES", value_name = "GRANTS")]
    pub registration_grant_types: Option<String>,
    /// Scopes a self-registered client may have (space- or comma-separated)
    #[arg(long, env = "OSTIARY_REGISTRATION_SCOPES", value_name = "SCOPES")]
    pub registration_scopes: Option<String>,
    /// Hosts a self-registered client's redirect URIs may point at (empty: any)
    #[arg(
        long,
        env = "OSTIARY_REGISTRATION_REDIRECT_HOSTS",
        value_name = "HOSTS"
    )]
    pub registration_redirect_hosts: Option<String>,
    /// Registrations per hour from one client address under the open policy
    #[arg(
        long,
        env = "OSTIARY_REGISTRATIONS_PER_ADDRESS",
        value_name = "PER_HOUR"
    )]
    pub registrations_per_address: Option<u32>,
    /// Accept https client_id URLs naming a Client ID Metadata Document (true/false)
    #[arg(
        long,
        env = "OSTIARY_CLIENT_ID_METADATA_DOCUMENTS",
        value_name = "BOOL"
    )]
    pub client_id_metadata_documents: Option<bool>,
    /// Who may create an account at /signup: closed, invite (a link an admin creates) or open
    #[arg(long, env = "OSTIARY_SIGNUP", value_name = "POLICY")]
    pub signup: Option<String>,
    /// With open sign-up, only these email domains (comma-separated; empty: any)
    #[arg(long, env = "OSTIARY_SIGNUP_EMAIL_DOMAINS", value_name = "DOMAINS")]
    pub signup_email_domains: Option<String>,
    /// Sign-ups per hour from one client address
    #[arg(long, env = "OSTIARY_SIGNUPS_PER_ADDRESS", value_name = "PER_HOUR")]
    pub signups_per_address: Option<u32>,
    /// Let only accounts with a verified email address log in (true/false)
    #[arg(long, env = "OSTIARY_REQUIRE_VERIFIED_EMAIL", value_name = "BOOL")]
    pub require_verified_email: Option<bool>,
    /// Export request spans as OpenTelemetry traces to this OTLP/HTTP URL
    /// (e.g. http://collector:4318/v1/traces)
    #[arg(long, env = "OSTIARY_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Seconds a request waits for a database connection before it is answered 503
    #[arg(long, env = "OSTIARY_DB_TIMEOUT", value_name = "SECONDS")]
    pub db_timeout: Option<u64>,
    /// Client addresses (CIDR list) that may read /metrics
    #[arg(long, env = "OSTIARY_METRICS_ALLOW", value_name = "CIDRS")]
    pub metrics_allow: Option<String>,
    /// Also serve /metrics on this address (e.g. 0.0.0.0:9100 for a scraper on another network)
    #[arg(long, env = "OSTIARY_METRICS_BIND", value_name = "ADDR")]
    pub metrics_bind: Option<String>,
    /// Every authorization request must be pushed first (RFC 9126) (true/false)
    #[arg(long, env = "OSTIARY_REQUIRE_PAR", value_name = "BOOL")]
    pub require_par: Option<bool>,
    /// Seconds a device code and its user code live (RFC 8628)
    #[arg(long, env = "OSTIARY_DEVICE_CODE_TTL", value_name = "SECONDS")]
    pub device_code_ttl: Option<i64>,
    /// Seconds a device must wait between polls (RFC 8628 interval)
    #[arg(long, env = "OSTIARY_DEVICE_POLL_INTERVAL", value_name = "SECONDS")]
    pub device_poll_interval: Option<i64>,
    /// Second factors for everyone: optional, or required (enrolment at the next login)
    #[arg(long, env = "OSTIARY_SECOND_FACTOR", value_name = "POLICY")]
    pub second_factor: Option<String>,
    /// Second factors for administrators: optional or required (default: as for everyone)
    #[arg(long, env = "OSTIARY_ADMIN_SECOND_FACTOR", value_name = "POLICY")]
    pub admin_second_factor: Option<String>,
    /// Addresses (CIDR list) outbound fetches may reach although private or loopback, over http too
    #[arg(long, env = "OSTIARY_OUTBOUND_ALLOW", value_name = "CIDRS")]
    pub outbound_allow: Option<String>,
    // --- Mail (src/mail/, src/outbox.rs, src/accounts/) ---
    /// SMTP server: smtp://HOST:PORT (loopback only), smtp://HOST:PORT?tls=starttls or
    /// smtps://HOST:PORT; credentials as smtp://USER:PASSWORD@HOST. Unset: no mail is sent and the
    /// features that need it (password reset, email verification and change) are off
    #[arg(
        long,
        env = "OSTIARY_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,
    /// File holding the SMTP password (instead of one in OSTIARY_SMTP_URL)
    #[arg(long, env = "OSTIARY_SMTP_PASSWORD_FILE", value_name = "FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// Sender of the mails, e.g. "Example ID <noreply@id.example.com>" (default: noreply@ the
    /// issuer's host)
    #[arg(long, env = "OSTIARY_MAIL_FROM", value_name = "MAILBOX")]
    pub mail_from: Option<String>,
    /// Seconds a password-reset link works
    #[arg(long, env = "OSTIARY_RESET_TOKEN_TTL", value_name = "SECONDS")]
    pub reset_token_ttl: Option<i64>,
    /// Seconds an email-verification (or email-change) link works
    #[arg(long, env = "OSTIARY_VERIFICATION_TOKEN_TTL", value_name = "SECONDS")]
    pub verification_token_ttl: Option<i64>,
    /// Seconds between the mail sender's looks at the outbox (it is also woken by new mail)
    #[arg(long, env = "OSTIARY_OUTBOX_INTERVAL", value_name = "SECONDS")]
    pub outbox_interval: Option<u64>,
    /// Password-reset requests per hour from one client address (burst: a tenth, at least 3)
    #[arg(
        long,
        env = "OSTIARY_RESET_REQUESTS_PER_ADDRESS",
        value_name = "PER_HOUR"
    )]
    pub reset_requests_per_address: Option<u32>,
}

/// The validated settings the program runs with.
#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub db: DbUrl,
    /// Without a trailing slash, exactly as it appears in `iss`.
    pub issuer: String,
    /// The issuer was not configured and was derived from a loopback `bind`; its port is
    /// settled from the bound listener (`settle_issuer`), as `bind` may ask for port 0.
    pub issuer_from_bind: bool,
    pub bind: SocketAddr,
    pub keys_dir: PathBuf,
    pub key_encryption_key: Option<String>,
    pub log: String,
    pub log_format: LogFormat,
    pub db_pool_size: u32,
    pub workers: usize,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub refresh_grace: i64,
    pub code_ttl: i64,
    pub session_ttl: i64,
    pub access_token_alg: SigningAlg,
    pub key_activation_delay: i64,
    pub argon2: Argon2Settings,
    pub password_hash_concurrency: usize,
    pub password_hash_queue: usize,
    pub key_cache_ttl: u64,
    /// `crate::fetched`: the shortest time between two fetches of a key set for unknown kids.
    pub keys_refetch_pause: u64,
    /// `crate::cache`: how often cached clients, user status and the deny-list are checked; 0: no
    /// caches.
    pub cache_sync_ms: u64,
    pub key_rotation_interval: Option<i64>,
    pub maintenance_interval: u64,
    pub static_dir: Option<PathBuf>,
    /// Peers whose `X-Forwarded-For` names the client; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub throttle: ThrottleSettings,
    pub registration: RegistrationSettings,
    /// Whether https `client_id`s naming a metadata document are accepted.
    pub client_id_metadata_documents: bool,
    /// Only accounts whose email address is verified may log in.
    pub require_verified_email: bool,
    pub signup: SignupSettings,
    /// Whether users (and, separately, administrators) must have a second factor.
    pub second_factor: SecondFactorSettings,
    /// RFC 9126 for every client.
    pub require_par: bool,
    /// How long a request waits for a database connection.
    pub db_timeout: u64,
    /// Where request spans are exported (OTLP/HTTP), if anywhere.
    pub otlp_endpoint: Option<String>,
    /// Who may read /metrics, and an extra address to serve it on.
    pub metrics_allow: Vec<ipnet::IpNet>,
    pub metrics_bind: Option<String>,
    /// RFC 8628: how long device codes live, and the polling interval.
    pub device_code_ttl: i64,
    pub device_poll_interval: i64,
    /// Addresses outbound HTTP may reach although private/loopback (and over plain http).
    pub outbound_allow: Vec<ipnet::IpNet>,
    /// SMTP, sender, token lifetimes (see `MailSettings`).
    pub mail: MailSettings,
}

/// Who may create an account at `/signup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignupPolicy {
    Closed,
    /// With a single-use invitation link an administrator created.
    Invite,
    /// Anyone (optionally only with addresses at some domains), rate-limited per address.
    Open,
}

impl SignupPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SignupPolicy::Closed => "closed",
            SignupPolicy::Invite => "invite",
            SignupPolicy::Open => "open",
        }
    }
}

/// Whether a second factor is needed to log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondFactorPolicy {
    /// Asked for from users who enrolled one.
    Optional,
    /// Everyone must have one: users without are made to enrol at their next login.
    Required,
}

impl SecondFactorPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactorPolicy::Optional => "optional",
            SecondFactorPolicy::Required => "required",
        }
    }

    fn parse(field: &str, raw: &str) -> Result<Self, ConfigError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "optional" => Ok(SecondFactorPolicy::Optional),
            "required" => Ok(SecondFactorPolicy::Required),
            other => Err(bad(field, format!("{other}: use optional or required"))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecondFactorSettings {
    pub users: SecondFactorPolicy,
    pub admins: SecondFactorPolicy,
}

impl SecondFactorSettings {
    /// The policy for this user.
    pub fn for_user(&self, is_admin: bool) -> SecondFactorPolicy {
        if is_admin {
            self.admins
        } else {
            self.users
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignupSettings {
    pub policy: SignupPolicy,
    /// Lower-case IDNA domains; empty: any.
    pub email_domains: Vec<String>,
    pub per_address_per_hour: u32,
}

/// Who may register a client at `/register` (RFC 7591).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationPolicy {
    Closed,
    /// An initial access token (RFC 7591 §3) is required.
    Token,
    /// Anyone, rate-limited per client address.
    Open,
}

impl RegistrationPolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "closed" => Some(RegistrationPolicy::Closed),
            "token" => Some(RegistrationPolicy::Token),
            "open" => Some(RegistrationPolicy::Open),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationPolicy::Closed => "closed",
            RegistrationPolicy::Token => "token",
            RegistrationPolicy::Open => "open",
        }
    }
}

/// What self-registered clients may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationSettings {
    /// The policy at start; an administrator may change it at run time (stored in the database).
    pub policy: RegistrationPolicy,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// Empty: any host.
    pub redirect_hosts: Vec<String>,
    pub per_address_per_hour: u32,
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Brute-force limits for password checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures per account before a lockout; half of it are free, then waits double. 0: off.
    pub account_threshold: i64,
    /// The same per client address.
    pub address_threshold: i64,
    /// Seconds a lockout lasts; failures older than this are forgotten.
    pub lockout_duration: i64,
    /// Checks admitted per minute per client address / per account, before any hashing.
    pub checks_per_address: u32,
    pub checks_per_account: u32,
    /// Upstream logins (starts and callbacks) admitted per minute per client address.
    pub upstream_logins_per_address: u32,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            account_threshold: 10,
            address_threshold: 30,
            lockout_duration: 900,
            checks_per_address: 60,
            checks_per_account: 60,
            upstream_logins_per_address: 60,
        }
    }
}

impl std::fmt::Debug for Settings {
    // Written by hand so the key-encryption key and database password never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &crate::db::redact_url(&self.database_url))
            .field("issuer", &self.issuer)
            .field("bind", &self.bind)
            .field("keys_dir", &self.keys_dir)
            .field(
                "key_encryption_key",
                &self.key_encryption_key.as_ref().map(|_| "<set>"),
            )
            .field("access_token_alg", &self.access_token_alg)
            // SmtpSettings' Debug shows "<set>" for the password.
            .field("mail", &self.mail)
            .finish_non_exhaustive()
    }
}

/// A setting that cannot be used, named as the operator would type it.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {env} (--{flag}): {reason}")]
pub struct ConfigError {
    pub env: String,
    pub flag: String,
    pub reason: String,
}

/// The refusal of setting `name` (as in `SettingsArgs`, e.g. `database_url`).
pub fn bad(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        env: format!("OSTIARY_{}", name.to_uppercase()),
        flag: name.replace('_', "-"),
        reason: reason.into(),
    }
}

pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

impl SettingsArgs {
    /// Fills unset fields from `other` (fields set here win): flags over the file, `serve`'s
    /// flags over the top-level ones.
    pub fn or(self, other: SettingsArgs) -> SettingsArgs {
        macro_rules! merge {
            ($($f:ident),* $(,)?) => { SettingsArgs { $($f: self.$f.or(other.$f)),* } };
        }
        merge!(
            database_url,
            issuer,
            bind,
            keys_dir,
            key_encryption_key,
            log,
            log_format,
            db_pool_size,
            workers,
            access_token_ttl,
            id_token_ttl,
            refresh_token_ttl,
            refresh_grace,
            code_ttl,
            session_ttl,
            access_token_alg,
            key_activation_delay,
            argon2_memory_kib,
            argon2_iterations,
            argon2_parallelism,
            password_hash_concurrency,
            password_hash_queue,
            key_cache_ttl,
            keys_refetch_pause,
            cache_sync_ms,
            key_rotation_interval,
            maintenance_interval,
            static_dir,
            trusted_proxies,
            account_lockout_threshold,
            address_lockout_threshold,
            lockout_duration,
            password_checks_per_address,
            password_checks_per_account,
            upstream_logins_per_address,
            registration,
            registration_grant_types,
            registration_scopes,
            registration_redirect_hosts,
            registrations_per_address,
            client_id_metadata_documents,
            require_verified_email,
            signup,
            signup_email_domains,
            signups_per_address,
            second_factor,
            admin_second_factor,
            require_par,
            otlp_endpoint,
            db_timeout,
            metrics_allow,
            metrics_bind,
            device_code_ttl,
            device_poll_interval,
            outbound_allow,
            smtp_url,
            smtp_password_file,
            mail_from,
            reset_token_ttl,
            verification_token_ttl,
            outbox_interval,
            reset_requests_per_address,
        )
    }
}

pub fn read_file(path: &Path) -> Result<SettingsArgs, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad("config", format!("{}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        bad(
            "config",
            format!("{}: {}", path.display(), e.message().trim()),
        )
    })
}

/// The issuer URL, normalised (no trailing slash) and checked: https, or http on loopback; no
/// query or fragment (OIDC Discovery §3).
pub fn normalize_issuer(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("{raw}: not a URL ({e})"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw}: must not have a query or fragment"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(url.host()) => {}
        "http" => {
            return Err(format!(
                "{raw}: must be https unless the host is a loopback address"
            ))
        }
        _ => return Err(format!("{raw}: must be an https URL")),
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A list of CIDR blocks (or bare addresses), separated by commas or spaces.
pub fn parse_cidrs(raw: &str) -> Result<Vec<ipnet::IpNet>, String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{p}: not an address or CIDR block"))
        })
        .collect()
}

fn not_negative(name: &str, v: Option<i64>, default: i64) -> Result<i64, ConfigError> {
    match v {
        None => Ok(default),
        Some(n) if n >= 0 => Ok(n),
        Some(n) => Err(bad(name, format!("{n}: must not be negative"))),
    }
}

fn positive(name: &str, v: Option<i64>, default: i64) -> Result<i64, ConfigError> {
    match v {
        None => Ok(default),
        Some(n) if n > 0 => Ok(n),
        Some(n) => Err(bad(
            name,
            format!("{n}: must be a positive number of seconds"),
        )),
    }
}

/// The access tokens' signing algorithm (default ES256: cheap to sign on every token request).
fn access_token_alg(a: &SettingsArgs) -> Result<SigningAlg, ConfigError> {
    match a.access_token_alg.as_deref() {
        None => Ok(SigningAlg::Es256),
        Some(s) => SigningAlg::parse(s).ok_or_else(|| {
            bad(
                "access_token_alg",
                format!("{s}: use RS256, ES256 or EdDSA"),
            )
        }),
    }
}

/// Outgoing mail (`MailSettings::resolve`): SMTP, sender, account-link lifetimes, the outbox.
fn mail_settings(a: &SettingsArgs, issuer: &str) -> Result<MailSettings, ConfigError> {
    MailSettings::resolve(
        MailArgs {
            smtp_url: a.smtp_url.as_deref(),
            smtp_password_file: a.smtp_password_file.as_deref(),
            mail_from: a.mail_from.as_deref(),
            reset_token_ttl: a.reset_token_ttl,
            verification_token_ttl: a.verification_token_ttl,
            outbox_interval: a.outbox_interval,
            reset_requests_per_address: a.reset_requests_per_address,
        },
        issuer,
    )
}

/// The issuer, and whether it was derived from `bind`. Unset, it is where a loopback `bind`
/// listens, so changing only the port keeps the setup link and discovery pointing at this server;
/// on any other `bind` the address clients reach is unknown, and the default stays loopback 8080.
fn issuer_or_default(a: &SettingsArgs, bind: SocketAddr) -> Result<(String, bool), ConfigError> {
    match a.issuer.as_deref() {
        Some(raw) => Ok((normalize_issuer(raw).map_err(|r| bad("issuer", r))?, false)),
        None if bind.ip().is_loopback() => Ok((issuer_at(bind), true)),
        None => Ok(("http://127.0.0.1:8080".to_owned(), false)),
    }
}

/// `http://ADDRESS:PORT` for a loopback address (IPv6 bracketed, as `SocketAddr` displays it).
fn issuer_at(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// Whether `issuer` names `addr`'s host and port (`localhost` stands for any loopback address).
fn issuer_names(issuer: &str, addr: SocketAddr) -> bool {
    let Ok(url) = Url::parse(issuer) else {
        return false;
    };
    let host = match url.host() {
        Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip) == addr.ip(),
        Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip) == addr.ip(),
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") && addr.ip().is_loopback()
        }
        None => false,
    };
    host && url.port_or_known_default() == Some(addr.port())
}

/// The listening address: `ADDRESS:PORT`.
fn bind_address(a: &SettingsArgs) -> Result<SocketAddr, ConfigError> {
    let bind_raw = a.bind.as_deref().unwrap_or("127.0.0.1:8080");
    bind_raw.parse().map_err(|_| {
        bad(
            "bind",
            format!("{bind_raw}: expected ADDRESS:PORT, e.g. 0.0.0.0:8080"),
        )
    })
}

/// The log filter, checked now so a typo fails at start rather than logging nothing.
fn log_filter(a: &SettingsArgs) -> Result<String, ConfigError> {
    let log = a.log.clone().unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::EnvFilter::try_new(&log).map_err(|e| bad("log", format!("{log}: {e}")))?;
    Ok(log)
}

/// argon2id parameters (default m=19456 KiB, t=2, p=1, OWASP's), checked by the argon2 crate
/// itself so a hash never fails at login time.
fn argon2_settings(a: &SettingsArgs) -> Result<Argon2Settings, ConfigError> {
    let argon2 = Argon2Settings {
        memory_kib: a.argon2_memory_kib.unwrap_or(19456),
        iterations: a.argon2_iterations.unwrap_or(2),
        parallelism: a.argon2_parallelism.unwrap_or(1),
    };
    argon2::Params::new(
        argon2.memory_kib,
        argon2.iterations,
        argon2.parallelism,
        None,
    )
    .map_err(|e| {
        bad(
            "argon2_memory_kib",
            format!("argon2 parameters rejected: {e}"),
        )
    })?;
    Ok(argon2)
}

/// How often the caches look for writes of other replicas: 0 (off), or between 50 ms (less
/// would poll the database for nothing) and a minute (more would serve stale clients too long).
fn cache_sync_ms(v: Option<u64>) -> Result<u64, ConfigError> {
    match v.unwrap_or(500) {
        n if n > 60_000 => Err(bad("cache_sync_ms", "must be at most 60000 (one minute)")),
        n if (1..50).contains(&n) => Err(bad("cache_sync_ms", "must be 0 (off) or at least 50")),
        n => Ok(n),
    }
}

/// A number of seconds within `range`.
fn seconds_within<T: PartialOrd + std::fmt::Display + Copy>(
    name: &str,
    v: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(bad(
            name,
            format!("{v}: use {} to {} seconds", range.start(), range.end()),
        ))
    }
}

/// Password lockout and admission: thresholds of 0 turn a lockout off; a lockout lasts a
/// positive time.
fn throttle_settings(a: &SettingsArgs) -> Result<ThrottleSettings, ConfigError> {
    let d = ThrottleSettings::default();
    Ok(ThrottleSettings {
        account_threshold: not_negative(
            "account_lockout_threshold",
            a.account_lockout_threshold,
            d.account_threshold,
        )?,
        address_threshold: not_negative(
            "address_lockout_threshold",
            a.address_lockout_threshold,
            d.address_threshold,
        )?,
        lockout_duration: positive("lockout_duration", a.lockout_duration, d.lockout_duration)?,
        checks_per_address: a
            .password_checks_per_address
            .unwrap_or(d.checks_per_address),
        checks_per_account: a
            .password_checks_per_account
            .unwrap_or(d.checks_per_account),
        upstream_logins_per_address: a
            .upstream_logins_per_address
            .unwrap_or(d.upstream_logins_per_address),
    })
}

/// Dynamic client registration (RFC 7591): who may register (default: holders of an initial
/// access token), and the grants, scopes and redirect hosts a registered client may have; the
/// grants must be ones we implement.
fn registration_settings(a: &SettingsArgs) -> Result<RegistrationSettings, ConfigError> {
    let policy = match a.registration.as_deref() {
        None => RegistrationPolicy::Token,
        Some(p) => RegistrationPolicy::parse(p)
            .ok_or_else(|| bad("registration", format!("{p}: use closed, token or open")))?,
    };
    let grant_types = words(
        a.registration_grant_types
            .as_deref()
            .unwrap_or("authorization_code refresh_token"),
    );
    if let Some(x) = grant_types
        .iter()
        .find(|g| !crate::domain::grants::SUPPORTED_GRANTS.contains(&g.as_str()))
    {
        return Err(bad(
            "registration_grant_types",
            format!("{x}: unknown grant type"),
        ));
    }
    Ok(RegistrationSettings {
        policy,
        grant_types,
        scopes: words(
            a.registration_scopes
                .as_deref()
                .unwrap_or("openid profile email"),
        ),
        redirect_hosts: words(a.registration_redirect_hosts.as_deref().unwrap_or(""))
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        per_address_per_hour: a.registrations_per_address.unwrap_or(20),
    })
}

/// Self-service sign-up (default closed), the address domains it accepts (compared without
/// `@` and case) and how many sign-ups one address may make per hour.
fn signup_settings(a: &SettingsArgs) -> Result<SignupSettings, ConfigError> {
    let policy = match a.signup.as_deref().map(|s| s.trim().to_ascii_lowercase()) {
        None => SignupPolicy::Closed,
        Some(p) if p == "closed" => SignupPolicy::Closed,
        Some(p) if p == "invite" => SignupPolicy::Invite,
        Some(p) if p == "open" => SignupPolicy::Open,
        Some(p) => return Err(bad("signup", format!("{p}: use closed, invite or open"))),
    };
    Ok(SignupSettings {
        policy,
        email_domains: words(a.signup_email_domains.as_deref().unwrap_or(""))
            .into_iter()
            .map(|d| d.trim_start_matches('@').to_ascii_lowercase())
            .collect(),
        per_address_per_hour: a.signups_per_address.unwrap_or(10),
    })
}

/// Second factors: the policy for users (default optional), and for administrators (default:
/// the users' policy).
fn second_factor_settings(a: &SettingsArgs) -> Result<SecondFactorSettings, ConfigError> {
    let users = match a.second_factor.as_deref() {
        Some(p) => SecondFactorPolicy::parse("second_factor", p)?,
        None => SecondFactorPolicy::Optional,
    };
    let admins = match a.admin_second_factor.as_deref() {
        Some(p) => SecondFactorPolicy::parse("admin_second_factor", p)?,
        None => users,
    };
    Ok(SecondFactorSettings { users, admins })
}

impl Settings {
    /// Resolves flags/env, the optional file and defaults into checked settings.
    ///
    /// Each settings group is checked by its own function below; the first refusal is the
    /// answer (the operator fixes one setting at a time, named in the error), so the order of
    /// the checks is the order of the fields.
    pub fn resolve(args: SettingsArgs, config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let a = match config_file {
            Some(p) => args.or(read_file(p)?),
            None => args,
        };
        let database_url = a
            .database_url
            .clone()
            .unwrap_or_else(|| "sqlite://ostiary.db".to_owned());
        let db = DbUrl::parse(&database_url).map_err(|e| bad("database_url", e.to_string()))?;
        let bind = bind_address(&a)?;
        let (issuer, issuer_from_bind) = issuer_or_default(&a, bind)?;
        let log = log_filter(&a)?;
        let access_token_alg = access_token_alg(&a)?;
        let argon2 = argon2_settings(&a)?;
        let key_activation_delay = match a.key_activation_delay {
            Some(n) if n < 0 => return Err(bad("key_activation_delay", "must not be negative")),
            Some(n) => n,
            None => 300,
        };
        let refresh_grace = match a.refresh_grace {
            Some(n) if n < 0 => return Err(bad("refresh_grace", "must not be negative")),
            Some(n) => n,
            // Strict rotation by default (RFC 9700 §4.14.2): a grace window is an opt-in.
            None => 0,
        };
        let mail = mail_settings(&a, &issuer)?;
        Ok(Settings {
            database_url,
            db,
            issuer,
            issuer_from_bind,
            bind,
            log,
            log_format: a.log_format.unwrap_or_default(),
            db_pool_size: a.db_pool_size.unwrap_or(16).max(1),
            workers: a.workers.unwrap_or_else(default_workers).max(1),
            access_token_ttl: positive("access_token_ttl", a.access_token_ttl, 900)?,
            id_token_ttl: positive("id_token_ttl", a.id_token_ttl, 3600)?,
            refresh_token_ttl: positive("refresh_token_ttl", a.refresh_token_ttl, 30 * 86400)?,
            refresh_grace,
            code_ttl: positive("code_ttl", a.code_ttl, 60)?,
            session_ttl: positive("session_ttl", a.session_ttl, 12 * 3600)?,
            access_token_alg,
            key_activation_delay,
            argon2,
            password_hash_concurrency: a
                .password_hash_concurrency
                .unwrap_or_else(default_workers)
                .max(1),
            password_hash_queue: a.password_hash_queue.unwrap_or(64),
            key_cache_ttl: a.key_cache_ttl.unwrap_or(30),
            keys_refetch_pause: seconds_within(
                "keys_refetch_pause",
                a.keys_refetch_pause.unwrap_or(5),
                0..=300,
            )?,
            cache_sync_ms: cache_sync_ms(a.cache_sync_ms)?,
            key_rotation_interval: match a.key_rotation_interval {
                Some(n) if n < 60 => {
                    return Err(bad("key_rotation_interval", "must be at least 60 seconds"))
                }
                other => other,
            },
            maintenance_interval: a.maintenance_interval.unwrap_or(60).max(1),
            trusted_proxies: parse_cidrs(a.trusted_proxies.as_deref().unwrap_or(""))
                .map_err(|r| bad("trusted_proxies", r))?,
            throttle: throttle_settings(&a)?,
            registration: registration_settings(&a)?,
            client_id_metadata_documents: a.client_id_metadata_documents.unwrap_or(false),
            require_verified_email: a.require_verified_email.unwrap_or(false),
            signup: signup_settings(&a)?,
            outbound_allow: parse_cidrs(a.outbound_allow.as_deref().unwrap_or(""))
                .map_err(|r| bad("outbound_allow", r))?,
            require_par: a.require_par.unwrap_or(false),
            otlp_endpoint: a.otlp_endpoint.clone().filter(|u| !u.trim().is_empty()),
            db_timeout: seconds_within("db_timeout", a.db_timeout.unwrap_or(5), 1..=60)?,
            metrics_allow: parse_cidrs(a.metrics_allow.as_deref().unwrap_or("127.0.0.0/8,::1/128"))
                .map_err(|r| bad("metrics_allow", r))?,
            metrics_bind: a.metrics_bind.clone().filter(|b| !b.trim().is_empty()),
            device_code_ttl: seconds_within(
                "device_code_ttl",
                a.device_code_ttl.unwrap_or(600),
                60..=3600,
            )?,
            device_poll_interval: seconds_within(
                "device_poll_interval",
                a.device_poll_interval.unwrap_or(5),
                1..=60,
            )?,
            second_factor: second_factor_settings(&a)?,
            mail,
            // Moved out last: the groups above borrow the whole of `a`.
            keys_dir: a.keys_dir.unwrap_or_else(|| PathBuf::from("keys")),
            key_encryption_key: a.key_encryption_key,
            static_dir: a.static_dir,
        })
    }

    /// Settles the issuer once the listener is bound at `bound`: a derived issuer takes the port
    /// actually bound (`bind` may ask for port 0); a configured one that names another address
    /// than a loopback `bind` is warned about once, not refused, as a reverse proxy in front is
    /// a legitimate reason.
    pub fn settle_issuer(&mut self, bound: SocketAddr) {
        if self.issuer_from_bind {
            self.issuer = issuer_at(bound);
        } else if bound.ip().is_loopback() && !issuer_names(&self.issuer, bound) {
            tracing::warn!(
                issuer = %self.issuer,
                bind = %bound,
                "OSTIARY_ISSUER names another address than the loopback OSTIARY_BIND: links and \
                 discovery point there (fine behind a reverse proxy, wrong otherwise)"
            );
        }
    }

    /// The longest any signed token lives: how long a retired key must stay published.
    pub fn max_token_ttl(&self) -> i64 {
        self.access_token_ttl.max(self.id_token_ttl)
    }

    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// Whether mail can be sent (an SMTP server is configured): password reset, email
    /// verification and email change are off without it.
    pub fn mail_enabled(&self) -> bool {
        self.mail.smtp.is_some()
    }
}

// --- Mail settings (src/mail/, src/outbox.rs, src/accounts/) ---

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// No TLS: only to a loopback host (a local relay).
    Plain,
    /// STARTTLS, required (the connection fails rather than continue in clear).
    StartTls,
    /// TLS from the first byte (`smtps://`, port 465).
    Tls,
}

/// The SMTP server, from `OSTIARY_SMTP_URL` (and `OSTIARY_SMTP_PASSWORD_FILE`).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for SmtpSettings {
    // By hand so the password never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailSettings {
    /// `None`: no mail is sent; the features that need it are off and say so.
    pub smtp: Option<SmtpSettings>,
    /// The `From:` mailbox, checked to parse as one.
    pub from: String,
    pub reset_token_ttl: i64,
    pub verification_token_ttl: i64,
    /// Seconds between the outbox sender's polls.
    pub outbox_interval: u64,
    pub reset_requests_per_address: u32,
}

/// The raw mail settings, borrowed from `SettingsArgs`.
pub struct MailArgs<'a> {
    pub smtp_url: Option<&'a str>,
    pub smtp_password_file: Option<&'a Path>,
    pub mail_from: Option<&'a str>,
    pub reset_token_ttl: Option<i64>,
    pub verification_token_ttl: Option<i64>,
    pub outbox_interval: Option<u64>,
    pub reset_requests_per_address: Option<u32>,
}

impl MailSettings {
    fn resolve(a: MailArgs<'_>, issuer: &str) -> Result<Self, ConfigError> {
        let mut smtp = match a.smtp_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => Some(parse_smtp_url(u).map_err(|r| bad("smtp_url", r))?),
            None => None,
        };
        if let Some(path) = a.smtp_password_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad("smtp_password_file", format!("{}: {e}", path.display())))?;
            let pw = text.trim_end_matches(['\r', '\n']).to_owned();
            match smtp.as_mut() {
                None => return Err(bad("smtp_password_file", "set OSTIARY_SMTP_URL too")),
                Some(s) if s.password.is_some() => {
                    return Err(bad(
                        "smtp_password_file",
                        "OSTIARY_SMTP_URL has a password already; give it in one place",
                    ))
                }
                Some(s) if s.username.is_none() => {
                    return Err(bad(
                        "smtp_password_file",
                        "name the user in OSTIARY_SMTP_URL (smtp://USER@HOST)",
                    ))
                }
                Some(s) => s.password = Some(pw),
            }
        }
        if smtp
            .as_ref()
            .is_some_and(|s| s.username.is_some() && s.password.is_none())
        {
            return Err(bad(
                "smtp_url",
                "a user name needs a password: smtp://USER:PASSWORD@HOST or OSTIARY_SMTP_PASSWORD_FILE",
            ));
        }
        let from = match a.mail_from.map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => f.to_owned(),
            None => default_mail_from(issuer),
        };
        from.parse::<lettre::message::Mailbox>()
            .map_err(|e| bad("mail_from", format!("{from}: {e}")))?;
        Ok(MailSettings {
            smtp,
            from,
            reset_token_ttl: positive("reset_token_ttl", a.reset_token_ttl, 1800)?,
            verification_token_ttl: positive(
                "verification_token_ttl",
                a.verification_token_ttl,
                48 * 3600,
            )?,
            outbox_interval: a.outbox_interval.unwrap_or(5).max(1),
            reset_requests_per_address: a.reset_requests_per_address.unwrap_or(10),
        })
    }
}

/// `Ostiary <noreply@HOST>` with the issuer's host name (`localhost` for an issuer at an IP
/// address: mailbox syntax has no room for address literals in every parser).
fn default_mail_from(issuer: &str) -> String {
    let host = Url::parse(issuer)
        .ok()
        .and_then(|u| match u.host() {
            Some(url::Host::Domain(d)) => Some(d.to_owned()),
            _ => None,
        })
        .unwrap_or_else(|| "localhost".to_owned());
    format!("Ostiary <noreply@{host}>")
}

/// `smtp://[USER[:PASSWORD]@]HOST[:PORT][?tls=starttls]` or `smtps://…`. Plain `smtp://` only to
/// a loopback host: anywhere else the password and the links in the mails would cross the
/// network in clear.
pub fn parse_smtp_url(raw: &str) -> Result<SmtpSettings, String> {
    // The URL may hold a password: never echo it back.
    let url = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    let tls = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.to_ascii_lowercase());
    if url.query_pairs().any(|(k, _)| k != "tls") || url.fragment().is_some() {
        return Err("the only parameter understood is ?tls=starttls".into());
    }
    if !matches!(url.path(), "" | "/") {
        return Err("an SMTP URL has no path".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err("the URL names no host".into()),
    };
    let (security, default_port) = match (url.scheme(), tls.as_deref()) {
        ("smtp", None) => (SmtpSecurity::Plain, 25),
        ("smtp", Some("starttls" | "required")) => (SmtpSecurity::StartTls, 587),
        ("smtps", None) => (SmtpSecurity::Tls, 465),
        ("smtp" | "smtps", Some(other)) => {
            return Err(format!(
                "tls={other}: use tls=starttls (or smtps:// for TLS)"
            ))
        }
        (other, _) => return Err(format!("{other}://: use smtp:// or smtps://")),
    };
    // smtp:// is not a "special" scheme to the URL parser: 127.0.0.1 comes back as a name.
    let loopback = is_loopback_host(url.host())
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if security == SmtpSecurity::Plain && !loopback {
        return Err(format!(
            "plain smtp:// is allowed only to a loopback host; for {host} use smtps:// or \
             smtp://{host}?tls=starttls"
        ));
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| "the user or password in the URL is not valid UTF-8".to_owned())
    };
    let username = match url.username() {
        "" => None,
        u => Some(decode(u)?),
    };
    let password = match url.password() {
        None => None,
        Some(p) => Some(decode(p)?),
    };
    if password.is_some() && username.is_none() {
        return Err("a password needs a user name (smtp://USER:PASSWORD@HOST)".into());
    }
    Ok(SmtpSettings {
        host,
        port: url.port().unwrap_or(default_port),
        security,
        username,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field, for comparing two resolutions. The pattern names every field (no `..`),
    /// so a new setting must be added here to compile.
    fn everything(s: &Settings) -> String {
        let Settings {
            database_url,
            db,
            issuer,
            issuer_from_bind,
            bind,
            keys_dir,
            key_encryption_key,
            log,
            log_format,
            db_pool_size,
            workers,
            access_token_ttl,
            id_token_ttl,
            refresh_token_ttl,
            refresh_grace,
            code_ttl,
            session_ttl,
            access_token_alg,
            key_activation_delay,
            argon2,
            password_hash_concurrency,
            password_hash_queue,
            key_cache_ttl,
            keys_refetch_pause,
            cache_sync_ms,
            key_rotation_interval,
            maintenance_interval,
            static_dir,
            trusted_proxies,
            throttle,
            registration,
            client_id_metadata_documents,
            require_verified_email,
            signup,
            second_factor,
            require_par,
            db_timeout,
            otlp_endpoint,
            metrics_allow,
            metrics_bind,
            device_code_ttl,
            device_poll_interval,
            outbound_allow,
            mail,
        } = s;
        format!("{database_url:?}, {db:?}, {issuer:?}, {issuer_from_bind:?}, {bind:?}, {keys_dir:?}, {key_encryption_key:?}, {log:?}, {log_format:?}, {db_pool_size:?}, {workers:?}, {access_token_ttl:?}, {id_token_ttl:?}, {refresh_token_ttl:?}, {refresh_grace:?}, {code_ttl:?}, {session_ttl:?}, {access_token_alg:?}, {key_activation_delay:?}, {argon2:?}, {password_hash_concurrency:?}, {password_hash_queue:?}, {key_cache_ttl:?}, {keys_refetch_pause:?}, {cache_sync_ms:?}, {key_rotation_interval:?}, {maintenance_interval:?}, {static_dir:?}, {trusted_proxies:?}, {throttle:?}, {registration:?}, {client_id_metadata_documents:?}, {require_verified_email:?}, {signup:?}, {second_factor:?}, {require_par:?}, {db_timeout:?}, {otlp_endpoint:?}, {metrics_allow:?}, {metrics_bind:?}, {device_code_ttl:?}, {device_poll_interval:?}, {outbound_allow:?}, {mail:?}")
    }

    #[test]
    fn documented_defaults_are_the_defaults() {
        use clap::{Args, FromArgMatches};
        let unset =
            everything(&Settings::resolve(SettingsArgs::default(), None).expect("defaults"));
        for (name, value) in DOCUMENTED_DEFAULTS {
            let flag = format!("--{}", name.replace('_', "-"));
            // Without the environment: only the one value given counts.
            let matches = SettingsArgs::augment_args(clap::Command::new("t"))
                .mut_args(|a| a.env(None))
                .try_get_matches_from(["t", flag.as_str(), value])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let args = SettingsArgs::from_arg_matches(&matches).expect("args");
            let given = Settings::resolve(args, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                everything(&given),
                unset,
                "{name} = {value} is not the default"
            );
        }
    }

    #[test]
    fn defaults_run_on_loopback() {
        let s = Settings::resolve(SettingsArgs::default(), None).expect("defaults are valid");
        assert_eq!(s.issuer, "http://127.0.0.1:8080");
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://ostiary.db");
        assert_eq!(s.keys_dir, PathBuf::from("keys"));
        assert_eq!(s.access_token_alg, SigningAlg::Es256);
    }

    #[test]
    fn without_an_issuer_a_loopback_bind_is_the_issuer() {
        let with_bind = |bind: &str| {
            let args = SettingsArgs {
                bind: Some(bind.into()),
                ..Default::default()
            };
            Settings::resolve(args, None).expect("valid")
        };
        assert_eq!(
            with_bind("127.0.0.1:18434").issuer,
            "http://127.0.0.1:18434"
        );
        assert_eq!(with_bind("[::1]:9000").issuer, "http://[::1]:9000");
        assert_eq!(with_bind("0.0.0.0:9000").issuer, "http://127.0.0.1:8080");
        // Port 0: the port the listener was given.
        let mut s = with_bind("127.0.0.1:0");
        s.settle_issuer("127.0.0.1:41234".parse().expect("addr"));
        assert_eq!(s.issuer, "http://127.0.0.1:41234");
        assert!(issuer_names(
            "http://localhost:8080",
            "[::1]:8080".parse().expect("addr")
        ));
        assert!(!issuer_names(
            "https://id.example.com",
            "127.0.0.1:443".parse().expect("addr")
        ));
    }

    #[test]
    fn issuer_rules() {
        assert_eq!(
            normalize_issuer("https://id.example.com/").as_deref(),
            Ok("https://id.example.com")
        );
        assert_eq!(
            normalize_issuer("https://id.example.com/realm/").as_deref(),
            Ok("https://id.example.com/realm")
        );
        assert!(normalize_issuer("http://localhost:8080").is_ok());
        assert!(normalize_issuer("http://[::1]:8080").is_ok());
        assert!(normalize_issuer("http://id.example.com").is_err());
        assert!(normalize_issuer("https://id.example.com/?x=1").is_err());
        assert!(normalize_issuer("not a url").is_err());
    }

    #[test]
    fn errors_name_the_setting() {
        let args = SettingsArgs {
            issuer: Some("http://id.example.com".into()),
            ..Default::default()
        };
        let e = Settings::resolve(args, None).expect_err("must fail");
        let line = e.to_string();
        assert!(
            line.contains("OSTIARY_ISSUER") && line.contains("--issuer"),
            "{line}"
        );
        let args = SettingsArgs {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        let line = Settings::resolve(args, None).expect_err("fail").to_string();
        assert!(line.contains("OSTIARY_DATABASE_URL"), "{line}");
    }

    #[test]
    fn file_fills_gaps_and_flags_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ostiary.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9999\"\nissuer = \"http://127.0.0.1:9999\"\n",
        )
        .expect("write");
        let args = SettingsArgs {
            issuer: Some("http://localhost:1".into()),
            ..Default::default()
        };
        let s = Settings::resolve(args, Some(&path)).expect("valid");
        assert_eq!(s.bind.port(), 9999);
        assert_eq!(s.issuer, "http://localhost:1");
        std::fs::write(&path, "trusted_proxies = \"10.0.0.0/8, 192.0.2.7\"\n").expect("write");
        let s = Settings::resolve(SettingsArgs::default(), Some(&path)).expect("valid");
        assert_eq!(s.trusted_proxies.len(), 2);
        std::fs::write(&path, "trusted_proxies = \"10.0.0.0/33\"\n").expect("write");
        let e = Settings::resolve(SettingsArgs::default(), Some(&path)).expect_err("fail");
        assert!(e.to_string().contains("OSTIARY_TRUSTED_PROXIES"), "{e}");
        std::fs::write(&path, "no_such_setting = 1\n").expect("write");
        let e = Settings::resolve(SettingsArgs::default(), Some(&path)).expect_err("fail");
        assert!(e.to_string().contains("no_such_setting"), "{e}");
    }
}
