//! Static assets, embedded in the binary so it runs from any directory; files in `static_dir`
//! (when configured) override them.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::state::AppState;

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/style.css"),
    ),
    (
        "logo.svg",
        "image/svg+xml",
        include_bytes!("../../static/logo.svg"),
    ),
    (
        "passkeys.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/passkeys.js"),
    ),
];

pub async fn serve(path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let name = path.into_inner();
    let Some((_, mime, embedded)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return HttpResponse::NotFound().finish();
    };
    // Only the known names are looked up, so no path from the request reaches the filesystem.
    let body = match &state.settings.static_dir {
        Some(dir) => std::fs::read(dir.join(&name)).unwrap_or_else(|_| embedded.to_vec()),
        None => embedded.to_vec(),
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *mime))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}
