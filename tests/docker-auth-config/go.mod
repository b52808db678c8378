// The oracle for tests/docker-auth-config/cases.txt: docker/cli's own code (scripts/test).
module docker-auth-config-oracle

go 1.24

require github.com/docker/cli v28.5.2+incompatible

require (
	github.com/docker/docker-credential-helpers v0.9.13 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/sirupsen/logrus v1.10.2 // indirect
	golang.org/x/sys v0.20.0 // indirect
	gotest.tools/v3 v3.5.2 // indirect
)
