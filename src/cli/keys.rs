use clap::Subcommand;

use super::user::audit;
use super::{connect, print_table, CliResult};
use crate::audit::Event;
use crate::config::Settings;
use crate::crypto::kek::Kek;
use crate::crypto::keys;
use crate::db::{self, models::signing_keys};

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List signing keys with their state (next, active, retired, expired)
    List,
    /// Create a new key for every algorithm. It is published at once and signs after the
    /// activation delay; the keys it replaces stay published until their tokens have expired
    Rotate {
        /// Seconds before the new keys start signing [default: OSTIARY_KEY_ACTIVATION_DELAY, 300]
        #[arg(long, value_name = "SECONDS")]
        activate_in: Option<i64>,
    },
}

fn ts(t: i64) -> String {
    // Seconds since the epoch are unambiguous and sort; the admin console shows local times.
    t.to_string()
}

pub fn run(settings: &Settings, cmd: KeysCommand) -> CliResult {
    let mut conn = connect(settings)?;
    let kek = Kek::load_or_create(settings.key_encryption_key.as_deref(), &settings.keys_dir)?;
    match cmd {
        KeysCommand::List => {
            keys::ensure_keys(&mut conn, &kek)?;
            let all = signing_keys::all(&mut conn)?;
            let states = keys::states(&all, db::now());
            let rows: Vec<Vec<String>> = all
                .iter()
                .zip(states)
                .map(|(k, s)| {
                    vec![
                        k.kid.clone(),
                        k.alg.clone(),
                        s.as_str().into(),
                        ts(k.created_at),
                        ts(k.activate_at),
                        k.publish_until.map(ts).unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            print_table(
                &[
                    "KID",
                    "ALG",
                    "STATE",
                    "CREATED",
                    "SIGNS_FROM",
                    "PUBLISHED_UNTIL",
                ],
                &rows,
            );
            Ok(())
        }
        KeysCommand::Rotate { activate_in } => {
            keys::ensure_keys(&mut conn, &kek)?;
            let delay = activate_in.unwrap_or(settings.key_activation_delay).max(0);
            let created = keys::rotate(&mut conn, &kek, delay, settings.max_token_ttl())?;
            for k in &created {
                audit(&mut conn, Event::KeysRotate, &k.kid)?;
                println!("{} {} published now, signs in {delay}s", k.alg, k.kid);
            }
            Ok(())
        }
    }
}
