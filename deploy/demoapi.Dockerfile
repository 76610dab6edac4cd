# syntax=docker/dockerfile:1
#
# The demo API of deploy/compose.yaml (examples/demoapi). Build from the
# repository root:
#
#   docker build -f deploy/demoapi.Dockerfile -t gatehouse-demoapi .

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ARG TARGETOS TARGETARCH
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/demoapi ./examples/demoapi

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/demoapi /demoapi
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/demoapi"]
CMD ["--addr", ":8081"]
