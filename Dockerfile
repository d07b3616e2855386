# unitrack container image: a profile-guided release build on Debian, run as an unprivileged user.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY src ./src
COPY config ./config
COPY schemas ./schemas
COPY benches ./benches
COPY tests/fixtures ./tests/fixtures
COPY dev/pgo ./dev/pgo
# A profile-guided build (README "Speed"): trained on every carrier's documented bodies.
RUN dev/pgo build

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 unitrack
COPY --from=build /src/target/pgo/use/release/unitrack /usr/local/bin/unitrack
COPY config /etc/unitrack
USER unitrack
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/unitrack"]
CMD ["run"]
