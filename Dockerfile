# Flotilla's image: static binaries on a minimal base, as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build command (a test runs this very line without a Docker engine):
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/...

# The exec credential plugins of cloud identity, built from their Go
# modules (pinned; their go directives are at most 1.26): EKS's
# aws-iam-authenticator reads the AWS credentials
# aws-actions/configure-aws-credentials exports, AKS's kubelogin a
# workload identity. GKE's gke-gcloud-auth-plugin (k8s.io/cloud-provider-gcp)
# is not served by the Go module proxy: GKE takes the access token
# google-github-actions/auth mints (examples/github/gke.yml).
FROM golang:1.26 AS plugins
RUN CGO_ENABLED=0 GOBIN=/out go install -trimpath -ldflags="-s -w" sigs.k8s.io/aws-iam-authenticator/cmd/aws-iam-authenticator@v0.7.10
RUN CGO_ENABLED=0 GOBIN=/out go install -trimpath -ldflags="-s -w" github.com/Azure/kubelogin@v0.2.21

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
COPY --from=plugins /out/ /usr/local/bin/
# uid 1001 is the GitHub-hosted runner's user, so the Action can write the
# checked-out workspace (render commits into it) without running as root.
USER 1001:1001
ENV HOME=/tmp
ENTRYPOINT ["/usr/local/bin/action"]
