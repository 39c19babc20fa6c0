// One portable schema for both backends: text ids, BIGINT unix-second timestamps, booleans.
// Kept by hand in step with migrations/{sqlite,postgres}; a test checks the two folders match.

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Text,
        email_verified -> Bool,
        name -> Nullable<Text>,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        password_hash -> Text,
        is_admin -> Bool,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        email_key -> Nullable<Text>,
        username_skeleton -> Nullable<Text>,
        profile_claims -> Nullable<Text>,
    }
}

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        is_public -> Bool,
        auth_method -> Text,
        grant_types -> Text,
        scopes -> Text,
        id_token_alg -> Text,
        logo_uri -> Nullable<Text>,
        homepage_uri -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        origin -> Text,
        verified -> Bool,
        disabled -> Bool,
        application_type -> Text,
        metadata -> Nullable<Text>,
        registration_token_hash -> Nullable<Text>,
        metadata_expires_at -> Nullable<BigInt>,
        minimum_acr -> Nullable<Text>,
        require_par -> Bool,
        backchannel_logout_uri -> Nullable<Text>,
        backchannel_logout_session_required -> Bool,
        frontchannel_logout_uri -> Nullable<Text>,
        frontchannel_logout_session_required -> Bool,
        token_exchange_audiences -> Nullable<Text>,
    }
}

diesel::table! {
    client_redirect_uris (client_id, kind, uri) {
        client_id -> Text,
        kind -> Text,
        uri -> Text,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        session_id -> Nullable<Text>,
        auth_time -> BigInt,
        extensions -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        family_id -> Nullable<Text>,
        access_jti -> Nullable<Text>,
        amr -> Nullable<Text>,
        redirect_uri_given -> Bool,
        claims -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_families (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Nullable<Text>,
        scope -> Text,
        auth_time -> Nullable<BigInt>,
        session_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        amr -> Nullable<Text>,
        claims -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        family_id -> Text,
        generation -> BigInt,
        scope -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        rotated_at -> Nullable<BigInt>,
        successor_hash -> Nullable<Text>,
    }
}

diesel::table! {
    access_token_denylist (jti) {
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Nullable<Text>,
        csrf_token -> Text,
        auth_time -> Nullable<BigInt>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        amr -> Nullable<Text>,
        lineage -> Nullable<Text>,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        public_jwk -> Text,
        private_key_enc -> Text,
        created_at -> BigInt,
        activate_at -> BigInt,
        publish_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    login_attempts (id) {
        id -> BigInt,
        username -> Text,
        ip -> Nullable<Text>,
        succeeded -> Bool,
        at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        actor -> Nullable<Text>,
        action -> Text,
        target -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    totp_factors (user_id) {
        user_id -> Text,
        secret_sealed -> Text,
        created_at -> BigInt,
        confirmed_at -> Nullable<BigInt>,
        last_step -> BigInt,
    }
}

diesel::table! {
    passkeys (credential_id) {
        credential_id -> Text,
        user_id -> Text,
        user_handle -> Text,
        name -> Text,
        credential -> Text,
        sign_count -> BigInt,
        backup_eligible -> Bool,
        backup_state -> Bool,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    recovery_codes (code_hash) {
        code_hash -> Text,
        user_id -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webauthn_ceremonies (id_hash) {
        id_hash -> Text,
        kind -> Text,
        user_id -> Nullable<Text>,
        state -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    client_assertion_jtis (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    pushed_requests (uri_hash) {
        uri_hash -> Text,
        client_id -> Text,
        request -> Text,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    device_codes (device_code_hash) {
        device_code_hash -> Text,
        user_code -> Text,
        client_id -> Text,
        scope -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        poll_interval -> BigInt,
        last_polled_at -> Nullable<BigInt>,
        status -> Text,
        user_id -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        amr -> Nullable<Text>,
        session_id -> Nullable<Text>,
    }
}

diesel::joinable!(client_redirect_uris -> clients (client_id));
diesel::joinable!(refresh_tokens -> refresh_families (family_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    clients,
    client_redirect_uris,
    authorization_codes,
    refresh_families,
    refresh_tokens,
    access_token_denylist,
    sessions,
    consents,
    signing_keys,
    login_attempts,
    login_throttle,
    interactions,
    signup_invites,
    initial_access_tokens,
    server_settings,
    audit_events,
    setup_tokens,
    outbox,
    account_tokens,
    totp_factors,
    passkeys,
    recovery_codes,
    webauthn_ceremonies,
    client_assertion_jtis,
    pushed_requests,
    device_codes,
);

diesel::table! {
    initial_access_tokens (token_hash) {
        token_hash -> Text,
        uses_left -> Nullable<BigInt>,
        expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    server_settings (name) {
        name -> Text,
        value -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    signup_invites (token_hash) {
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        used_by -> Nullable<Text>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    interactions (id_hash) {
        id_hash -> Text,
        client_id -> Text,
        request -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        user_id -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        amr -> Nullable<Text>,
        completed_at -> Nullable<BigInt>,
        browser_hash -> Text,
        kind -> Text,
        device_code_hash -> Nullable<Text>,
    }
}

diesel::table! {
    login_throttle (scope, subject) {
        scope -> Text,
        subject -> Text,
        failures -> BigInt,
        last_failure_at -> BigInt,
    }
}

diesel::table! {
    setup_tokens (token_hash) {
        token_hash -> Text,
        created_at -> BigInt,
    }
}

// --- Mail: the outbox and single-use account tokens (migration 2026-12-01-000003) ---

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        recipient -> Text,
        payload -> Text,
        created_at -> BigInt,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        claimed_until -> Nullable<BigInt>,
        claim_id -> Nullable<Text>,
        sent_at -> Nullable<BigInt>,
        failed_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    account_tokens (token_hash) {
        token_hash -> Text,
        kind -> Text,
        user_id -> Text,
        email -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

// --- Counters bumped by triggers when cached tables change (migration 2026-12-05-000003) ---

diesel::table! {
    cache_generations (name) {
        name -> Text,
        generation -> BigInt,
    }
}

diesel::table! {
    pairwise_subjects (sector, sub) {
        sector -> Text,
        sub -> Text,
        user_id -> Text,
    }
}

// --- Federation and groups (migration 2026-12-08-240100_federation) ---

diesel::table! {
    upstream_providers (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        issuer -> Nullable<Text>,
        client_id -> Text,
        client_secret_enc -> Nullable<Text>,
        scopes -> Text,
        account_policy -> Text,
        trusted_email -> Bool,
        trusted_acr -> Bool,
        username_claim -> Text,
        claim_map -> Nullable<Text>,
        groups_claim -> Nullable<Text>,
        upstream_logout -> Bool,
        enabled -> Bool,
        authorization_endpoint -> Nullable<Text>,
        token_endpoint -> Nullable<Text>,
        userinfo_endpoint -> Nullable<Text>,
        claim_paths -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        preset -> Nullable<Text>,
        icon -> Nullable<Text>,
        sync_claims -> Bool,
    }
}

diesel::table! {
    upstream_links (provider_id, subject) {
        provider_id -> Text,
        subject -> Text,
        user_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    upstream_states (state_hash) {
        state_hash -> Text,
        provider_id -> Text,
        browser_hash -> Text,
        payload -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    groups (id) {
        id -> Text,
        name -> Text,
        description -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> Text,
        user_id -> Text,
        source -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::joinable!(group_members -> groups (group_id));
diesel::allow_tables_to_appear_in_same_query!(groups, group_members);
