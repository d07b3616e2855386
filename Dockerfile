# unitrack container image: a release build on Debian, run as an unprivileged user.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY src ./src
COPY config ./config
COPY schemas ./schemas
COPY benches ./benches
RUN cargo build --release --locked --bin unitrack

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 unitrack
COPY --from=build /src/target/release/unitrack /usr/local/bin/unitrack
COPY config /etc/unitrack
USER unitrack
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/unitrack"]
CMD ["run"]
