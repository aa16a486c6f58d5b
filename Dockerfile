# syntax=docker/dockerfile:1
# Build: a static binary (no cgo), time-zone data embedded (time/tzdata in main).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
COPY migrations ./migrations
# The context has no .git (see .dockerignore), so the revision and its time come in as build arguments:
#   docker build --build-arg VERSION=v1.2.3 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg BUILD_TIME=$(git log -1 --format=%cI) .
# `proffsync version` prints them with the Go version.
ARG VERSION=dev
ARG REVISION=
ARG BUILD_TIME=
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/proffconnect/proffsync/internal/cli.Version=${VERSION} -X github.com/proffconnect/proffsync/internal/cli.Revision=${REVISION} -X github.com/proffconnect/proffsync/internal/cli.BuildTime=${BUILD_TIME}" \
      -o /out/proffsync ./cmd/proffsync

# Run: distroless static has CA certificates, tzdata and a non-root user, and nothing else. No secrets
# are baked in: they come from the environment or mounted files at run time.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/proffsync /usr/local/bin/proffsync
USER 65532:65532
ENV PROFFSYNC_CONFIG=/etc/proffsync/proffsync.yaml
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/proffsync"]
CMD ["serve", "--http-addr", "0.0.0.0:8080"]
