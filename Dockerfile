# Builds the `bnpl` binary in a full Rust image and runs it from a slim Debian one.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY workers workers
COPY migrations migrations
RUN cargo build --release --locked --bin bnpl

FROM debian:bookworm-slim
# ca-certificates for HTTPS to the providers; curl for the compose healthcheck.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/bnpl /usr/local/bin/bnpl
USER nobody
EXPOSE 8080
ENTRYPOINT ["bnpl"]
CMD ["serve"]
