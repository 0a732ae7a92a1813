# The mailprobe container image: the static binary on an empty base, with
# the CA certificates TLS verification needs and a non-root user.
#
# The build context holds two files, the way goreleaser prepares it:
#   mailprobe              the binary (CGO_ENABLED=0, linux)
#   ca-certificates.crt    a CA bundle (Debian: /etc/ssl/certs/ca-certificates.crt)
# `make image` prepares that context from bin/mailprobe and builds with podman;
# docker build works the same.
#
#   podman run --rm mailprobe reset send --embedded
#   podman run --rm mailprobe smtp check mail.example.com:587
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY mailprobe /usr/bin/mailprobe
# nobody:nogroup by number: scratch has no /etc/passwd to name them.
USER 65534:65534
ENTRYPOINT ["/usr/bin/mailprobe"]
CMD ["--help"]
