# syntax=docker/dockerfile:1

# Build stage: a static, stripped binary. It runs on the builder's own
# platform and cross-compiles for the target (docker buildx --platform).
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so this layer stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags='-s -w' -o /out/extsync ./cmd/extsync \
 && mkdir -p /out/data

# Final stage: no shell, no package manager, not root (uid/gid 65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/extsync /extsync
# /data must belong to nonroot, so the embedded JetStream server can write
# there; a new volume mounted on /data takes over this ownership.
COPY --from=build --chown=65532:65532 /out/data /data
# Inside a container loopback is useless: the admin API and the embedded
# NATS server (used when EXTSYNC_NATS_URL is empty) listen on all interfaces
# and are reachable only through the ports you publish.
ENV EXTSYNC_DATA_DIR=/data \
    EXTSYNC_HTTP_ADDR=0.0.0.0:8080 \
    EXTSYNC_NATS_LISTEN=0.0.0.0:4222 \
    EXTSYNC_CONNECTORS=/etc/extsync/connectors.yaml
USER nonroot:nonroot
VOLUME /data
# 4222: embedded NATS (clients); 8080: admin API.
EXPOSE 4222 8080
ENTRYPOINT ["/extsync"]
CMD ["serve"]
