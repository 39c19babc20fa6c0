//! The profile form: `/account/profile` for the person, `/admin/users/{id}/profile` for an
//! administrator (who may also mark the phone number verified). Both parse the form into
//! `accounts::profile::Input`, and the service checks and stores it.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::auth::{self, FormData, SignedIn};
use super::db;
use super::session;
use super::templates::render;
use crate::accounts::profile::{self, Editor, FieldError, Input, Profile, FIELDS};
use crate::audit::Actor;
use crate::db::models::users::User;
use crate::state::AppState;
use crate::web::error::AppError;

/// One input of the form, as the template draws it.
pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    pub input_type: &'static str,
    pub autocomplete: &'static str,
    pub hint: &'static str,
    pub multiline: bool,
    pub value: String,
    pub error: Option<String>,
}

/// How each field of `FIELDS` is asked for (label, input type, autocomplete token, hint).
fn presentation(name: &str) -> (&'static str, &'static str, &'static str, &'static str, bool) {
    match name {
        "name" => ("Full name", "text", "name", "", false),
        "given_name" => ("Given name", "text", "given-name", "", false),
        "family_name" => ("Family name", "text", "family-name", "", false),
        "middle_name" => ("Middle name", "text", "additional-name", "", false),
        "nickname" => ("Nickname", "text", "nickname", "", false),
        "profile" => (
            "Profile page",
            "url",
            "url",
            "An address starting with https://",
            false,
        ),
        "picture" => (
            "Picture",
            "url",
            "photo",
            "The address of an image of you",
            false,
        ),
        "website" => ("Website", "url", "url", "", false),
        "gender" => ("Gender", "text", "sex", "", false),
        "birthdate" => (
            "Birthdate",
            "text",
            "bday",
            "YYYY-MM-DD, only the year (YYYY), or 0000-MM-DD without the year",
            false,
        ),
        "zoneinfo" => (
            "Time zone",
            "text",
            "off",
            "For example Europe/Paris",
            false,
        ),
        "locale" => ("Language", "text", "language", "For example en-GB", false),
        "phone_number" => (
            "Phone number",
            "tel",
            "tel",
            "International, starting with +, for example +44 20 7946 0958",
            false,
        ),
        "address_formatted" => (
            "Full postal address",
            "text",
            "off",
            "As written on an envelope",
            true,
        ),
        "address_street_address" => ("Street", "text", "street-address", "", true),
        "address_locality" => ("City or town", "text", "address-level2", "", false),
        "address_region" => ("Region or state", "text", "address-level1", "", false),
        "address_postal_code" => ("Postal code", "text", "postal-code", "", false),
        "address_country" => ("Country", "text", "country-name", "", false),
        _ => ("", "text", "off", "", false),
    }
}

/// The current value of field `name` in `p`, as the form shows it.
fn value_of(p: &Profile, name: &str) -> String {
    let r = &p.rest;
    let a = r.address.clone().unwrap_or_default();
    let v = match name {
        "name" => &p.name,
        "given_name" => &p.given_name,
        "family_name" => &p.family_name,
        "middle_name" => &r.middle_name,
        "nickname" => &r.nickname,
        "profile" => &r.profile,
        "picture" => &r.picture,
        "website" => &r.website,
        "gender" => &r.gender,
        "birthdate" => &r.birthdate,
        "zoneinfo" => &r.zoneinfo,
        "locale" => &r.locale,
        "phone_number" => &r.phone_number,
        "address_formatted" => &a.formatted,
        "address_street_address" => &a.street_address,
        "address_locality" => &a.locality,
        "address_region" => &a.region,
        "address_postal_code" => &a.postal_code,
        "address_country" => &a.country,
        _ => &None,
    };
    v.clone().unwrap_or_default()
}

/// The form's inputs: the values typed (after a refusal) or stored, with their errors.
fn fields(p: &Profile, typed: Option<&FormData>, errors: &[FieldError]) -> Vec<FieldView> {
    FIELDS
        .iter()
        .map(|name| {
            let (label, input_type, autocomplete, hint, multiline) = presentation(name);
            FieldView {
                name,
                label,
                input_type,
                autocomplete,
                hint,
                multiline,
                value: typed
                    .and_then(|f| f.get(name))
                    .map_or_else(|| value_of(p, name), str::to_owned),
                error: errors
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(n, why)| format!("{} {why}", presentation(n).0)),
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage<'a> {
    heading: &'a str,
    action: &'a str,
    back: &'a str,
    back_label: &'a str,
    csrf_token: &'a str,
    fields: Vec<FieldView>,
    /// Shown to administrators only: whether the number is known to be the person's.
    phone_verified: Option<bool>,
    notice: Option<&'a str>,
    errors: usize,
}

/// Who the form is for, and who fills it in.
struct Target<'a> {
    user: &'a User,
    editor: Editor,
    action: String,
    back: &'static str,
    back_label: &'static str,
    heading: String,
}

fn page(
    who: &SignedIn,
    t: &Target<'_>,
    profile: &Profile,
    typed: Option<&FormData>,
    errors: &[FieldError],
    notice: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let status = if errors.is_empty() {
        HttpResponse::Ok()
    } else {
        HttpResponse::BadRequest()
    };
    let phone_verified = (t.editor == Editor::Admin).then(|| match typed {
        Some(f) => f.get("phone_number_verified").is_some(),
        None => profile.rest.phone_number_verified,
    });
    render(
        status,
        &ProfilePage {
            heading: &t.heading,
            action: &t.action,
            back: t.back,
            back_label: t.back_label,
            csrf_token: &who.session.csrf_token,
            fields: fields(profile, typed, errors),
            phone_verified,
            notice,
            errors: errors.len(),
        },
        None,
    )
}

/// Checks and stores a submitted form for `t`, then shows the form again (saved, or refused).
async fn save(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    who: &SignedIn,
    t: Target<'_>,
    form: FormData,
    actor: Actor,
) -> Result<HttpResponse, AppError> {
    let current = Profile::of(t.user);
    let input = Input {
        fields: FIELDS
            .iter()
            .map(|n| ((*n).to_owned(), form.get(n).unwrap_or("").to_owned()))
            .collect(),
        phone_number_verified: Some(form.get("phone_number_verified").is_some()),
    };
    let new = match profile::check(&current, &input, t.editor) {
        Ok(new) => new,
        Err(errors) => return page(who, &t, &current, Some(&form), &errors, None),
    };
    let (user, ip) = (t.user.clone(), session::client_ip(req));
    let stored = new.clone();
    db(state, move |conn| {
        profile::update(
            conn,
            &user,
            &stored,
            &actor,
            ip.as_deref(),
            crate::db::now(),
        )?;
        Ok(())
    })
    .await?;
    page(who, &t, &new, None, &[], Some("The profile was saved."))
}

fn own(who: &SignedIn) -> Target<'_> {
    Target {
        user: &who.user,
        editor: Editor::Owner,
        action: "/account/profile".into(),
        back: "/account",
        back_label: "Back to your account",
        heading: "Your profile".into(),
    }
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account/profile").await?;
    page(&who, &own(&who), &Profile::of(&who.user), None, &[], None)
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let who = auth::require_user(&req, &state, "/account/profile").await?;
    let form = FormData::parse(&body);
    form.check_csrf(&who)?;
    save(&req, &state, &who, own(&who), form, who.as_user()).await
}

fn of_user<'a>(user: &'a User) -> Target<'a> {
    Target {
        user,
        editor: Editor::Admin,
        action: format!("/admin/users/{}/profile", user.id),
        back: "/admin/users",
        back_label: "Back to users",
        heading: format!("Profile of {}", user.username),
    }
}

/// The console's form for one user (`web::admin::users` loads the user).
pub fn admin_show(who: &SignedIn, user: &User) -> Result<HttpResponse, AppError> {
    page(who, &of_user(user), &Profile::of(user), None, &[], None)
}

pub async fn admin_submit(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    who: &SignedIn,
    user: &User,
    form: FormData,
) -> Result<HttpResponse, AppError> {
    save(req, state, who, of_user(user), form, who.as_admin()).await
}
