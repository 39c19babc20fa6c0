//! Federation (issue 24): account-linking safety and account consistency, through real HTTP with
//! a second Ostiary as the upstream ("corp", `federation`'s setup). An offered link is made only
//! when the owner, signed in with their own credentials since the offer, confirms it on a page
//! naming both accounts; every link made is mailed to the account's address; an address remapped
//! from another claim is unverified; unlinking (and removing a provider) takes the memberships
//! the provider managed; concurrent first logins make one account and one group.

use crate::federation::{
    at_upstream, federated_login, groups_of, ok, person, round_trip, setup, unlink, PW,
};
use crate::helpers::{browser, location, TestApp};

/// An SMTP server nobody answers at: mail is on, so notices are queued in the outbox (where the
/// tests read them), and none is delivered.
fn mail_on(a: &mut ostiary::config::SettingsArgs) {
    a.smtp_url = Some("smtp://127.0.0.1:9".into());
}

fn input_value(html: &str, name: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("input[name={name}]")).expect("selector");
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .unwrap_or_default()
        .to_owned()
}

fn text_of(html: &str, css: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(css).expect("selector");
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect())
        .unwrap_or_default()
}

/// A password sign-in (`signed_in`, its answer) went on to the link confirmation: answer it with
/// `decision` (`link`, or `decline`). Returns the confirmation page.
pub(crate) async fn confirm(
    app: &TestApp,
    b: &reqwest::Client,
    signed_in: &reqwest::Response,
    decision: &str,
) -> String {
    let to = location(signed_in);
    assert!(to.starts_with("/account/upstreams/link?"), "{to}");
    let html = app.html(b, &to).await;
    post_answer(app, b, &html, decision).await;
    html
}

async fn post_answer(app: &TestApp, b: &reqwest::Client, html: &str, decision: &str) {
    let res = b
        .post(app.url("/account/upstreams/link"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(html).as_str()),
            ("return_to", input_value(html, "return_to").as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 303, "the answer goes on");
}

fn notices_to(app: &TestApp, address: &str) -> i64 {
    app.count(&format!(
        "outbox WHERE recipient = '{address}' AND payload LIKE '%Corp SSO sign-in was linked%'"
    ))
}

#[tokio::test]
async fn an_offered_link_is_made_only_when_the_owner_confirms_it_on_a_page_naming_both_accounts() {
    let s = setup(&["--policy", "link"], mail_on).await;
    s.up.user_at("erin", "erin@corp.test", PW, &["--email-verified"])
        .await;
    // The notice of the link goes to the address the account proved.
    s.down
        .user_at(
            "erin-here",
            "erin-here@example.test",
            "erin's own password",
            &["--email-verified"],
        )
        .await;
    s.down.user("someone", "someone's password").await;

    // Erin's upstream login offers a link; then someone else signs in on the same computer.
    let p = person();
    let callback = round_trip(&s, &p, "erin").await;
    let res = p.down.get(&callback).send().await.expect("callback");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.expect("page").contains("asked to confirm"));
    let res = s
        .down
        .login_with(&p.down, "someone", "someone's password")
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(s.down.count("upstream_links"), 0, "nothing linked silently");
    // They are asked, with both accounts named, and decline.
    let page = confirm(&s.down, &p.down, &res, "decline").await;
    assert!(
        text_of(&page, "#link-question").contains("Link your Corp SSO account"),
        "{page}"
    );
    assert!(text_of(&page, "#upstream-account").contains("erin@corp.test"));
    assert_eq!(text_of(&page, "#local-account"), "someone");
    assert_eq!(s.down.count("upstream_links"), 0);
    // Declining spent the offer: the same form posted again with "Link" links nothing.
    post_answer(&s.down, &p.down, &page, "link").await;
    assert_eq!(s.down.count("upstream_links"), 0);
    assert_eq!(notices_to(&s.down, "someone@example.test"), 0);

    // A new offer, and Erin's own sign-in: she confirms, and her address is told.
    let p = person();
    let callback = round_trip(&s, &p, "erin").await;
    let res = p.down.get(&callback).send().await.expect("callback");
    assert_eq!(res.status(), 200);
    // Another browser signing in is not asked (the offer is bound to the one it was made to).
    let elsewhere = browser();
    let res = s
        .down
        .login_with(&elsewhere, "erin-here", "erin's own password")
        .await;
    assert_eq!(location(&res), "/", "no question in another browser");
    let res = s
        .down
        .login_with(&p.down, "erin-here", "erin's own password")
        .await;
    confirm(&s.down, &p.down, &res, "link").await;
    assert_eq!(s.down.count("upstream_links"), 1);
    assert_eq!(
        s.down.count("audit_events WHERE action = 'upstream.link'"),
        1
    );
    assert_eq!(notices_to(&s.down, "erin-here@example.test"), 1);
    let claims = federated_login(&s, &person(), "erin").await;
    assert_eq!(claims["preferred_username"], "erin-here");
}

/// Someone left signed in on a shared computer; another person's upstream login offers a link
/// in that browser: the session that signed in before the offer cannot take it.
#[tokio::test]
async fn a_session_signed_in_before_the_offer_cannot_take_it() {
    let s = setup(&["--policy", "link"], |_| {}).await;
    s.up.user("erin", PW).await;
    s.down.user("left-signed-in", "their password").await;
    let p = person();
    let res = s
        .down
        .login_with(&p.down, "left-signed-in", "their password")
        .await;
    assert_eq!(res.status(), 303);
    // The session is older than the offer to come (aged, instead of waiting a second).
    {
        use diesel::RunQueryDsl;
        let mut conn = s.down.db.conn();
        diesel::sql_query("UPDATE sessions SET auth_time = auth_time - 60")
            .execute(&mut conn)
            .expect("age the session");
    }
    let res = p
        .down
        .get(s.down.url("/login/upstream/corp?return_to=%2F"))
        .send()
        .await
        .expect("start");
    assert_eq!(res.status(), 303);
    let callback = at_upstream(&s, &p, &location(&res), "erin").await;
    let res = p.down.get(&callback).send().await.expect("callback");
    assert_eq!(res.status(), 200, "a link is offered");
    // The session left open is not even asked; its answer, posted all the same, links nothing.
    let res = p
        .down
        .get(s.down.url("/account/upstreams/link?return_to=%2F"))
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), 303, "not asked");
    assert_eq!(location(&res), "/");
    let account = s.down.html(&p.down, "/account").await;
    let res = p
        .down
        .post(s.down.url("/account/upstreams/link"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&account).as_str()),
            ("return_to", "/"),
            ("decision", "link"),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 303);
    assert_eq!(s.down.count("upstream_links"), 0);
}

/// The notice goes only to an address proved to be the account's: an account made from a
/// trusted upstream's verified address is told; one made from an address nobody verified is not
/// (else any upstream account could make this server mail whatever address it names).
#[tokio::test]
async fn an_account_made_just_in_time_is_told_of_its_link_by_mail_at_a_verified_address() {
    for (flags, mails) in [
        (&["--policy", "create", "--trusted-email"][..], 1),
        (&["--policy", "create"][..], 0),
    ] {
        let s = setup(flags, mail_on).await;
        s.up.user_at("alice", "alice@example.test", PW, &["--email-verified"])
            .await;
        federated_login(&s, &person(), "alice").await;
        assert_eq!(s.down.count("upstream_links"), 1, "{flags:?}");
        assert_eq!(
            notices_to(&s.down, "alice@example.test"),
            mails,
            "{flags:?}"
        );
    }
}

/// An address read from another claim (`--map email=name`) is not verified by `email_verified`
/// (which speaks of the `email` claim): a provider trusted for verified addresses does not link
/// by it, unless the claim map names the claim that verifies it.
#[tokio::test]
async fn a_remapped_address_is_unverified_unless_its_verified_claim_is_mapped_too() {
    for (extra, linked) in [
        (&[][..], false),
        (&["--map", "email_verified=email_verified"][..], true),
    ] {
        let mut flags = vec!["--policy", "link", "--trusted-email", "--map", "email=name"];
        flags.extend_from_slice(extra);
        let s = setup(&flags, |_| {}).await;
        s.up.user_at(
            "bob",
            "bob@corp.test",
            PW,
            &["--email-verified", "--name", "robert@example.test"],
        )
        .await;
        s.down
            .user_at(
                "robert",
                "robert@example.test",
                "robert's password",
                &["--email-verified"],
            )
            .await;
        let p = person();
        let callback = round_trip(&s, &p, "bob").await;
        let res = p.down.get(&callback).send().await.expect("callback");
        if linked {
            assert_eq!(res.status(), 303, "linked by the mapped verified claim");
            assert_eq!(s.down.count("upstream_links"), 1);
        } else {
            assert_eq!(res.status(), 200, "a link is only offered");
            assert_eq!(s.down.count("upstream_links"), 0, "not linked by address");
        }
    }
}

#[tokio::test]
async fn unlinking_a_provider_removes_the_memberships_it_managed() {
    let s = setup(&["--policy", "link"], |_| {}).await;
    s.up.user("erin", PW).await;
    ok(s.up.cli(&["group", "add", "staff"], None).await).await;
    ok(s.up.cli(&["group", "member", "staff", "erin"], None).await).await;
    s.down.user("erin-here", "erin's own password").await;
    ok(s.down.cli(&["group", "add", "local-team"], None).await).await;
    ok(s.down
        .cli(&["group", "member", "local-team", "erin-here"], None)
        .await)
    .await;
    let p = person();
    let callback = round_trip(&s, &p, "erin").await;
    p.down.get(&callback).send().await.expect("callback");
    let res = s
        .down
        .login_with(&p.down, "erin-here", "erin's own password")
        .await;
    confirm(&s.down, &p.down, &res, "link").await;
    let claims = federated_login(&s, &person(), "erin").await;
    assert_eq!(groups_of(&claims), ["corp:staff", "local-team"]);
    let (_, status, _) = unlink(&s, &p.down, "corp").await;
    assert_eq!(status, 200);
    assert_eq!(s.down.count("group_members WHERE source = 'corp'"), 0);
    assert_eq!(
        s.down.count("group_members"),
        1,
        "the local membership stays"
    );
    assert_eq!(
        s.down.count(
            "audit_events WHERE action = 'upstream.unlink' AND detail LIKE '%1 group memberships%'"
        ),
        1
    );
}

/// Two first logins of the same upstream person at once, and a third person in the same upstream
/// group: one account for the first two, one `corp:staff` group, no error.
#[tokio::test]
async fn concurrent_first_logins_make_one_account_and_one_group() {
    let s = setup(&["--policy", "create"], |_| {}).await;
    s.up.user("alice", PW).await;
    s.up.user("bob", PW).await;
    ok(s.up.cli(&["group", "add", "staff"], None).await).await;
    ok(s.up.cli(&["group", "member", "staff", "alice"], None).await).await;
    ok(s.up.cli(&["group", "member", "staff", "bob"], None).await).await;
    let (a1, a2, b) = (person(), person(), person());
    let cb_a1 = round_trip(&s, &a1, "alice").await;
    let cb_a2 = round_trip(&s, &a2, "alice").await;
    let cb_b = round_trip(&s, &b, "bob").await;
    let (r1, r2, r3) = tokio::join!(
        a1.down.get(&cb_a1).send(),
        a2.down.get(&cb_a2).send(),
        b.down.get(&cb_b).send(),
    );
    for r in [r1, r2, r3] {
        let r = r.expect("callback");
        let status = r.status();
        assert_eq!(status, 303, "{}", r.text().await.unwrap_or_default());
    }
    assert_eq!(s.down.count("users"), 2, "one account per upstream person");
    assert_eq!(s.down.count("upstream_links"), 2);
    assert_eq!(s.down.count("groups WHERE name = 'corp:staff'"), 1);
    assert_eq!(s.down.count("group_members WHERE source = 'corp'"), 2);
}

#[tokio::test]
async fn a_provider_with_linked_accounts_is_removed_only_when_forced() {
    let s = setup(&["--policy", "create"], |_| {}).await;
    s.up.user("alice", PW).await;
    ok(s.up.cli(&["group", "add", "staff"], None).await).await;
    ok(s.up.cli(&["group", "member", "staff", "alice"], None).await).await;
    federated_login(&s, &person(), "alice").await;
    let out = s.down.cli(&["upstream", "remove", "corp"], None).await;
    assert!(!out.ok(), "refused: {}", out.stdout);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert_eq!(s.down.count("upstream_providers"), 1);
    assert_eq!(s.down.count("upstream_links"), 1);
    let out = s
        .down
        .cli(&["upstream", "remove", "corp", "--force"], None)
        .await;
    assert!(out.ok(), "{}", out.stderr);
    assert!(
        out.stdout.contains("1 linked accounts unlinked"),
        "{}",
        out.stdout
    );
    assert_eq!(s.down.count("upstream_providers"), 0);
    assert_eq!(s.down.count("upstream_links"), 0);
    assert_eq!(s.down.count("group_members WHERE source = 'corp'"), 0);
    assert_eq!(
        s.down.count(
            "audit_events WHERE action = 'upstream.unlink' AND detail = 'corp (provider removed)'"
        ),
        1
    );
}

/// An account made just in time has no password; the ordinary "forgot password" mail gives it
/// one, which then signs in.
#[tokio::test]
async fn an_account_made_just_in_time_can_set_a_first_password_by_the_reset_mail() {
    let s = setup(&["--policy", "create"], mail_on).await;
    s.up.user("alice", PW).await;
    federated_login(&s, &person(), "alice").await;
    let b = browser();
    let (status, _) = crate::mail::ask_reset(&s.down, &b, "alice").await;
    assert_eq!(status, 200);
    let payload = {
        use diesel::prelude::*;
        use diesel::sql_types::Text;
        #[derive(QueryableByName)]
        struct S {
            #[diesel(sql_type = Text)]
            s: String,
        }
        let mut conn = s.down.db.conn();
        diesel::sql_query(
            "SELECT payload AS s FROM outbox WHERE payload LIKE '%reset-password?token=%'",
        )
        .get_result::<S>(&mut conn)
        .expect("the reset mail")
        .s
    };
    let start = payload.find("/reset-password?token=").expect("link");
    let link: String = payload[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "/?=-_".contains(*c))
        .collect();
    let html = s.down.html(&b, &link).await;
    let res = b
        .post(s.down.url("/reset-password"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&html).as_str()),
            ("token", input_value(&html, "token").as_str()),
            ("new_password", "alice's first password"),
            ("confirm_password", "alice's first password"),
        ])
        .send()
        .await
        .expect("reset");
    assert!(res.status().is_success() || res.status().is_redirection());
    let res = s
        .down
        .login_with(&browser(), "alice", "alice's first password")
        .await;
    assert_eq!(res.status(), 303, "the new password signs in");
}

/// The confirmation shows an address the upstream did not verify as a claim, never as whose
/// account it is: anyone can type a victim's address at an upstream, start a sign-in on a shared
/// computer and leave the offer for the victim to confirm as "their" account.
#[tokio::test]
async fn an_unverified_upstream_address_is_shown_as_a_claim_on_the_confirmation() {
    let s = setup(&["--policy", "link"], |_| {}).await;
    s.up.user_at("mallory", "erin@corp.test", PW, &[]).await;
    s.down
        .user_at(
            "erin",
            "erin@corp.test",
            "erin's own password",
            &["--email-verified"],
        )
        .await;
    let p = person();
    let callback = round_trip(&s, &p, "mallory").await;
    let res = p.down.get(&callback).send().await.expect("callback");
    assert_eq!(res.status(), 200);
    let res = s
        .down
        .login_with(&p.down, "erin", "erin's own password")
        .await;
    let page = confirm(&s.down, &p.down, &res, "decline").await;
    let shown = text_of(&page, "#upstream-account");
    assert!(
        shown.contains("claiming erin@corp.test, an address Corp SSO did not verify"),
        "{shown}"
    );
    assert_eq!(s.down.count("upstream_links"), 0);
}

/// An owner whose sign-in takes a second factor is asked too, after that step (the question
/// followed only a password alone before, so accounts with TOTP could never take an offer).
#[tokio::test]
async fn an_owner_with_a_second_factor_is_asked_after_that_step() {
    let s = setup(&["--policy", "link"], |_| {}).await;
    s.up.user_at("erin", "erin@corp.test", PW, &["--email-verified"])
        .await;
    s.down.user("erin-here", "erin's own password").await;
    let own = browser();
    let res = s
        .down
        .login_with(&own, "erin-here", "erin's own password")
        .await;
    assert_eq!(res.status(), 303);
    let (secret, _) = crate::factors::enrol_totp(&s.down, &own).await;

    let p = person();
    let callback = round_trip(&s, &p, "erin").await;
    let res = p.down.get(&callback).send().await.expect("callback");
    assert_eq!(res.status(), 200);
    let res = s
        .down
        .login_with(&p.down, "erin-here", "erin's own password")
        .await;
    assert!(
        location(&res).starts_with("/login/second-factor"),
        "{}",
        location(&res)
    );
    let page = s.down.html(&p.down, &location(&res)).await;
    let res = p
        .down
        .post(s.down.url("/login/second-factor"))
        .form(&[
            ("csrf_token", TestApp::csrf_of(&page).as_str()),
            ("return_to", input_value(&page, "return_to").as_str()),
            ("code", &crate::factors::totp_code(&secret, 1)),
        ])
        .send()
        .await
        .expect("code");
    assert_eq!(res.status(), 303);
    assert_eq!(s.down.count("upstream_links"), 0, "nothing linked silently");
    let page = confirm(&s.down, &p.down, &res, "link").await;
    assert_eq!(text_of(&page, "#local-account"), "erin-here");
    assert_eq!(s.down.count("upstream_links"), 1);
}

/// One upstream account per provider per account: confirming a second offer of the same
/// provider for an account that holds a link to it already links nothing.
#[tokio::test]
async fn an_account_holds_one_link_per_provider_whatever_path_offers_another() {
    let s = setup(&["--policy", "link"], |_| {}).await;
    s.up.user("erin", PW).await;
    s.up.user("erin-alt", PW).await;
    s.down.user("erin-here", "erin's own password").await;
    for (upstream, links) in [("erin", 1), ("erin-alt", 1)] {
        let p = person();
        let callback = round_trip(&s, &p, upstream).await;
        let res = p.down.get(&callback).send().await.expect("callback");
        assert_eq!(res.status(), 200, "a link is offered");
        let res = s
            .down
            .login_with(&p.down, "erin-here", "erin's own password")
            .await;
        confirm(&s.down, &p.down, &res, "link").await;
        assert_eq!(s.down.count("upstream_links"), links, "{upstream}");
    }
}
