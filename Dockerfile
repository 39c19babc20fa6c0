# Ostiary: build in the Rust image, run in Debian slim as an unprivileged user.
#   docker build -t ostiary .
#   docker run --rm ostiary --help
# See docker-compose.yml (PostgreSQL, two replicas) and docs/operations.md.

FROM rust:1-bookworm AS build
WORKDIR /src
# Only what the build reads: the context holds target/ (many GB) and maybe keys/kek, which must
# never end up in an image layer. SQLite, libpq and OpenSSL are built from source by their crates
# (bundled/vendored) with the C compiler, make and perl this image already has.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY data ./data
RUN cargo build --release --locked

FROM debian:bookworm-slim
# The binary needs only glibc, libm and libgcc_s (everything else is linked in). ca-certificates
# gives libpq's statically linked OpenSSL a CA bundle for sslmode=verify-full against a managed
# PostgreSQL (sslrootcert=/etc/ssl/certs/ca-certificates.crt, or sslrootcert=system through
# SSL_CERT_FILE); outbound HTTPS and SMTP carry their own roots.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 ostiary \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/ostiary \
       --shell /usr/sbin/nologin ostiary \
    && mkdir -p /var/lib/ostiary/keys \
    && chown -R 10001:10001 /var/lib/ostiary \
    && chmod 0700 /var/lib/ostiary/keys
COPY --from=build /src/target/release/ostiary /usr/local/bin/ostiary
# Numeric, so orchestrators can verify runAsNonRoot.
USER 10001:10001
WORKDIR /var/lib/ostiary
# The default bind (127.0.0.1) is unreachable from outside a container. Without a database URL
# the server uses SQLite in /var/lib/ostiary (mount a volume there); the KEK file goes to keys/
# unless OSTIARY_KEY_ENCRYPTION_KEY is set.
ENV OSTIARY_BIND=0.0.0.0:8080 \
    OSTIARY_KEYS_DIR=/var/lib/ostiary/keys \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
EXPOSE 8080
# Liveness (/healthz) on the port of OSTIARY_BIND; there is no curl in the image, so bash's
# /dev/tcp speaks the HTTP. Readiness (/readyz: the database answers) is for load balancers and
# docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${OSTIARY_BIND##*:} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
# SIGTERM drains in-flight requests for up to 30 s: give `docker stop` that long (-t 35).
STOPSIGNAL SIGTERM
ENTRYPOINT ["ostiary"]
CMD ["serve"]
