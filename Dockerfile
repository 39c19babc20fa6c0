FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/ostiary ostiary && mkdir -p /var/lib/ostiary/keys \
    && chown -R ostiary /var/lib/ostiary
COPY --from=build /src/target/release/ostiary /usr/local/bin/ostiary
USER ostiary
WORKDIR /var/lib/ostiary
EXPOSE 8080
ENTRYPOINT ["ostiary"]
