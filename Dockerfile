# Flotilla's image: static binaries on a minimal base, as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build command (a test runs this very line without a Docker engine):
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/...

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# uid 1001 is the GitHub-hosted runner's user, so the Action can write the
# checked-out workspace (render commits into it) without running as root.
USER 1001:1001
ENV HOME=/tmp
ENTRYPOINT ["/usr/local/bin/action"]
