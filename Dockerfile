# syntax=docker/dockerfile:1
#
# smokeprobe as a container: a static musl binary on `scratch`.
#
#   docker build -t smokeprobe .
#   read -rs SMOKEPROBE_VAR_PASSWORD && export SMOKEPROBE_VAR_PASSWORD   # the probe account's password
#   docker run --rm -p 127.0.0.1:9477:9477 -e SMOKEPROBE_VAR_PASSWORD smokeprobe \
#     run /etc/smokeprobe/probes/contravento.yaml --listen 0.0.0.0:9477 \
#     --var base=https://contravento.example --var http_base=http://contravento.example
#
# Why this shape (docs/deploy.md has the long version):
# - static: the TLS stack is rustls + ring (no OpenSSL), so the musl target gives
#   one self-contained executable; ring's C/assembly parts need musl-gcc
#   (musl-tools) in the builder.
# - scratch: nothing in the image but the binary, CA roots, the probe files and
#   an empty /tmp; no shell, no package manager, no curl.
# - CA roots: the builder's Debian bundle is copied to the path rustls-native-certs
#   looks at first. smokeprobe would fall back to its compiled-in Mozilla roots
#   without it, but the file keeps the usual Linux knobs working (SSL_CERT_FILE,
#   mounting a bundle) and is refreshed on every image rebuild.
# - no demo: the production image is built with --no-default-features, so it
#   carries no demo target, certificate generator or multipart server
#   (`smokeprobe demo` is not a subcommand there). deploy/compose.yaml's demo
#   service builds with CARGO_FEATURES=--features=demo.
# - no secrets: the probe account's password comes at run time from the
#   environment (SMOKEPROBE_VAR_PASSWORD, a Kubernetes Secret) or
#   --secret password='${env:NAME}' / '${file:PATH}'.

ARG RUST_IMAGE=rust:1-bookworm

FROM ${RUST_IMAGE} AS builder
ARG TARGET=x86_64-unknown-linux-musl
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add "${TARGET}"
# ring's build script compiles C and assembly for the target: musl-gcc does it.
# The production build leaves the `demo` feature out; --features=demo puts it back.
ARG CARGO_FEATURES=--no-default-features
ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    CARGO_TERM_COLOR=never
WORKDIR /src

# Dependencies first, with stub sources: this layer is rebuilt only when
# Cargo.toml or Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked ${CARGO_FEATURES} --target "${TARGET}" \
 && rm -rf src

# The real sources (src/cli/demo.rs embeds probes/contravento.yaml for `demo`).
COPY src/ src/
COPY probes/ probes/
# COPY keeps the context's modification times, which can be older than the
# stub build above: touch so cargo rebuilds the crate itself.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked ${CARGO_FEATURES} --target "${TARGET}" \
 && cp "target/${TARGET}/release/smokeprobe" /smokeprobe \
 && /smokeprobe --version
# An empty, world-writable /tmp (scratch has none): the state directory below
# lives there (and, in a demo build, `demo` writes its CA there).
RUN mkdir -m 1777 /rootfs-tmp

# The image for probe files with browser steps (`--target browser`): the same
# static binary beside Debian's Chromium and a font to lay out text with.
#   docker build --target browser -t smokeprobe:browser .
# Chromium finds no user-namespace sandbox in most containers, so smokeprobe
# starts it with --no-sandbox, as an unprivileged user; its profile is a
# temporary directory under /tmp, removed when the browser ends. The default
# target is the last stage below: the production image stays browser-free.
FROM debian:bookworm-slim AS browser
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-liberation ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /smokeprobe /usr/local/bin/smokeprobe
COPY probes/ /etc/smokeprobe/probes/
USER 65532:65532
WORKDIR /etc/smokeprobe
ENV SMOKEPROBE_LOG=info \
    SMOKEPROBE_STATE_DIR=/tmp/smokeprobe \
    SMOKEPROBE_CHROMIUM=/usr/bin/chromium \
    HOME=/tmp
EXPOSE 9477
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/smokeprobe", "healthcheck", "http://127.0.0.1:9477/-/healthy"]
ENTRYPOINT ["/usr/local/bin/smokeprobe"]
CMD ["run", "/etc/smokeprobe/probes/contravento.yaml", "--listen", "0.0.0.0:9477", "--grace", "100s"]

FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /rootfs-tmp /tmp
COPY --from=builder /smokeprobe /smokeprobe
# Baked in as a default; mount a directory over /etc/smokeprobe/probes to replace them.
COPY probes/ /etc/smokeprobe/probes/
# The user and group "nonroot" of distroless; scratch has no /etc/passwd, so numeric.
USER 65532:65532
WORKDIR /etc/smokeprobe
ENV SMOKEPROBE_LOG=info
# Refused credentials are remembered here (salted fingerprints, never the
# value), so a restarted container never re-sends a password the target
# refused. /tmp is the one writable directory; on Kubernetes it is an
# emptyDir, which survives container restarts within the pod.
ENV SMOKEPROBE_STATE_DIR=/tmp/smokeprobe
EXPOSE 9477
# scratch has no curl or wget: the binary checks itself (`smokeprobe healthcheck`).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/smokeprobe", "healthcheck", "http://127.0.0.1:9477/-/healthy"]
ENTRYPOINT ["/smokeprobe"]
# `run` takes probe files (or a directory of them). Variables come from the environment
# (SMOKEPROBE_VAR_BASE, SMOKEPROBE_VAR_HTTP_BASE, SMOKEPROBE_VAR_USERNAME,
# SMOKEPROBE_VAR_PASSWORD) or from --var/--secret in an overriding command.
CMD ["run", "/etc/smokeprobe/probes/contravento.yaml", "--listen", "0.0.0.0:9477", "--grace", "100s"]
