use diesel::prelude::*;
use ostiary::db::schema::{sessions, signing_keys};

use crate::helpers::{spawn_app_on, test_db};

#[tokio::test]
async fn maintenance_removes_expired_rows_and_rotates_on_schedule() {
    let app = spawn_app_on(test_db(), |a| a.key_rotation_interval = Some(3600)).await;
    {
        let mut conn = app.db.conn();
        let now = ostiary::db::now();
        for (id, exp) in [("expired", now - 10), ("live", now + 3600)] {
            diesel::insert_into(sessions::table)
                .values((
                    sessions::id_hash.eq(id),
                    sessions::csrf_token.eq("x"),
                    sessions::created_at.eq(now - 100),
                    sessions::last_seen_at.eq(now - 100),
                    sessions::expires_at.eq(exp),
                ))
                .execute(&mut conn)
                .expect("insert session");
        }
        // Keys made just now are not due.
        diesel::update(signing_keys::table)
            .set(signing_keys::created_at.eq(now - 60))
            .execute(&mut conn)
            .expect("age keys");
    }
    let st = app.state.clone();
    let report = tokio::task::spawn_blocking(move || ostiary::maintenance::run_once(&st))
        .await
        .expect("task")
        .expect("maintenance");
    assert!(report.removed.contains(&("sessions", 1)), "{report:?}");
    assert!(!report.rotated);
    let remaining: Vec<String> = sessions::table
        .select(sessions::id_hash)
        .load(&mut app.db.conn())
        .expect("sessions");
    assert_eq!(remaining, vec!["live".to_owned()]);

    // Keys older than the interval are rotated, once.
    diesel::update(signing_keys::table)
        .set(signing_keys::created_at.eq(ostiary::db::now() - 7200))
        .execute(&mut app.db.conn())
        .expect("age keys");
    for expected in [true, false] {
        let st = app.state.clone();
        let report = tokio::task::spawn_blocking(move || ostiary::maintenance::run_once(&st))
            .await
            .expect("task")
            .expect("maintenance");
        assert_eq!(report.rotated, expected);
    }
    let n: i64 = signing_keys::table
        .count()
        .get_result(&mut app.db.conn())
        .expect("count");
    assert_eq!(n, 6);
}
