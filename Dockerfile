# syntax=docker/dockerfile:1
# Gatehouse container image: a static binary (CGO_ENABLED=0; the SQLite driver is pure Go) on
# distroless/static, which holds CA certificates, /etc/passwd with a non-root user and nothing
# else: no shell, no package manager.
#
#   docker build -t gatehouse --build-arg VERSION=$(git describe --always --dirty) .
#   docker run --rm -p 8080:8080 -v gatehouse-data:/data gatehouse
#
# See compose.yaml for PostgreSQL, and README.md "Operating Gatehouse".

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gatehouse . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
# /data holds the SQLite database and its generated key when no PostgreSQL is configured.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
USER 65532:65532
ENV GATEHOUSE_ADDR=:8080 \
    GATEHOUSE_DATABASE_URL=sqlite:/data/gatehouse.db
EXPOSE 8080
VOLUME ["/data"]
# No shell or curl in the image: the binary probes its own /readyz. Kubernetes users point
# their readiness probe at GET /readyz and liveness probe at GET /healthz instead.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/gatehouse", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
