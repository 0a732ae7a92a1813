// Package repocheck holds no code: its tests check that the files around
// the Go code — the release configuration (.goreleaser.yaml), the container
// image (Dockerfile), the GitHub Action (action.yml) and the CI docs —
// agree with each other and with the binary, since goreleaser and GitHub
// cannot be run from these machines.
package repocheck
