//! Groups (minimal; issue 25 extends them): a name, a description, members. The `groups` scope
//! puts the names of a user's groups in the `groups` claim (`oidc::claims::add_groups`).
//! Memberships an administrator manages have no source; those an upstream provider manages are
//! replaced at each of its logins (`federation::accounts`).

use diesel::Connection;

use crate::audit::{self, Actor, Entry, Event};
use crate::db::models::groups::{self, GroupRow};
use crate::db::DbConn;

/// Creates group `name`: `Err` in words when the name is not usable or taken.
pub fn add(
    conn: &mut DbConn,
    name: &str,
    description: &str,
    actor: &Actor,
    now: i64,
) -> diesel::QueryResult<Result<GroupRow, String>> {
    let name = match crate::domain::text::visible_name(name) {
        Ok(n) if (1..=100).contains(&n.chars().count()) => n,
        Ok(_) => return Ok(Err("a group name has 1 to 100 characters".into())),
        Err(why) => return Ok(Err(format!("the group name {why}"))),
    };
    conn.transaction(|c| {
        if groups::by_name(c, &name)?.is_some() {
            return Ok(Err(format!("a group named {name:?} exists")));
        }
        let row = GroupRow {
            id: crate::random::token::<16>(),
            name,
            description: description.chars().take(500).collect(),
            created_at: now,
        };
        groups::insert(c, &row)?;
        audit::record(c, &Entry::new(actor, Event::GroupAdd).target(&row.id))?;
        Ok(Ok(row))
    })
}

/// Adds (or, with `member == false`, removes) `user_id` to the group named `group` as a
/// membership an administrator manages. `Err` when the group is unknown.
pub fn set_member(
    conn: &mut DbConn,
    group: &str,
    user_id: &str,
    member: bool,
    actor: &Actor,
    now: i64,
) -> diesel::QueryResult<Result<(), String>> {
    conn.transaction(|c| {
        let Some(g) = groups::by_name(c, group)? else {
            return Ok(Err(format!("no group named {group:?}")));
        };
        let has = groups::is_member(c, &g.id, user_id, None)?;
        match (member, has) {
            (true, false) => groups::add_member(c, &g.id, user_id, None, now)?,
            (false, true) => {
                groups::remove_member(c, &g.id, user_id, None)?;
            }
            _ => return Ok(Ok(())),
        }
        let detail = format!("{} {}", if member { "add" } else { "remove" }, g.name);
        audit::record(
            c,
            &Entry::new(actor, Event::GroupMember)
                .target(user_id)
                .detail(Some(&detail)),
        )?;
        Ok(Ok(()))
    })
}
