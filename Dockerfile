# syntax=docker/dockerfile:1
# msgmigrate: a static binary in a distroless image, run as non-root.
#   docker build -t msgmigrate:VERSION --build-arg VERSION=VERSION --build-arg COMMIT=$(git rev-parse HEAD) .
# (.git is not in the build context: the arguments are what `msgmigrate version` prints.)
# The pods `msgmigrate k8s` describes run it with a read-only root file system;
# the binary needs nothing from the image but CA certificates (HTTPS to the
# vendors) and tzdata (job files' timezone:), which distroless/static ships.

# The builder runs on the build machine's platform and cross-compiles
# (pure Go, no cgo: the ledger's SQLite is modernc.org/sqlite).
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=""
ARG COMMIT=""
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/msgmigrate ./cmd/msgmigrate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/msgmigrate /usr/local/bin/msgmigrate
# distroless's "nonroot"; the manifests' runAsUser/runAsGroup.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/msgmigrate"]
