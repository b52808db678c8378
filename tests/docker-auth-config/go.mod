// The oracle for tests/docker-auth-config/cases.txt: standard library only, run by hand.
module docker-auth-config-oracle

go 1.19
