//! Recovery codes: ten single-use codes, shown once, stored as SHA-256 (80 random bits each,
//! too many to search). Typed case-insensitively, with or without the dashes.

use crate::db::models::factors;
use crate::db::DbConn;
use crate::random;

pub const COUNT: usize = 10;
/// Crockford-style base32 without I, L, O and U: nothing to misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn one() -> String {
    // 10 bytes = 80 bits = 16 symbols of 5 bits.
    let raw = random::bytes::<10>();
    let mut bits: u128 = 0;
    for b in raw {
        bits = (bits << 8) | u128::from(b);
    }
    let symbols: Vec<u8> = (0..16)
        .map(|i| ALPHABET[((bits >> (75 - 5 * i)) & 31) as usize])
        .collect();
    symbols
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// The canonical form of a typed code, or `None` when it cannot be one.
pub fn normalize(typed: &str) -> Option<String> {
    let s: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if s.len() != 16 || !s.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    Some(
        s.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-"),
    )
}

fn hash(user_id: &str, code: &str) -> String {
    random::sha256_hex(&format!("recovery:{user_id}:{code}"))
}

/// New codes for the user, replacing any earlier ones; returned once, never stored in clear.
pub fn generate(conn: &mut DbConn, user_id: &str, now: i64) -> diesel::QueryResult<Vec<String>> {
    let codes: Vec<String> = (0..COUNT).map(|_| one()).collect();
    let hashes: Vec<String> = codes.iter().map(|c| hash(user_id, c)).collect();
    factors::replace_recovery_codes(conn, user_id, &hashes, now)?;
    Ok(codes)
}

/// Spends a code: true the first time for this user, false ever after or for anything else.
pub fn spend(conn: &mut DbConn, user_id: &str, typed: &str, now: i64) -> diesel::QueryResult<bool> {
    match normalize(typed) {
        Some(code) => factors::use_recovery_code(conn, user_id, &hash(user_id, &code), now),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_well_formed_and_normalize() {
        let c = one();
        assert_eq!(c.len(), 19);
        assert_eq!(
            normalize(&c.to_ascii_lowercase().replace('-', " ")),
            Some(c.clone())
        );
        assert_eq!(normalize("123456"), None);
        assert_eq!(normalize("IIII-IIII-IIII-IIII"), None);
    }
}
