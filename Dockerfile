# syntax=docker/dockerfile:1.7
# One image for every service of the compose file (orchestrator and standalone sandbox): the `bnpl`
# binary built in a full Rust image, run from a slim Debian one. BuildKit cache mounts keep the
# cargo registry and the target directory between builds, so a change to src/ rebuilds only this
# crate, not its ~400 dependencies.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY workers workers
COPY migrations migrations
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin bnpl \
    && cp target/release/bnpl /usr/local/bin/bnpl

FROM debian:bookworm-slim
# ca-certificates for HTTPS to the providers; curl for the compose healthchecks.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/bnpl /usr/local/bin/bnpl
USER nobody
EXPOSE 8080 8090
ENTRYPOINT ["bnpl"]
CMD ["serve"]
