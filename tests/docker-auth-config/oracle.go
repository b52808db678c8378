// Command oracle reads DOCKER_AUTH_CONFIG values the way the docker CLI does, with docker's
// own code (parseEnvConfig and decodeAuth from docker/cli v28.5.2,
// cli/config/configfile/file.go, Apache-2.0, copied unchanged but for the error wrapping),
// and checks or rewrites the verdicts in cases.txt, which tests/auth_env.rs holds our parser
// to. It is run by hand, never by the test suite (CI has no Go):
//
//	go run . check cases.txt   # exit 1 and list every verdict docker disagrees with
//	go run . write cases.txt   # set every verdict to docker's
//
// A line of cases.txt is a verdict, a tab, and the value quoted as Go quotes strings. The
// verdict is "ok" and the decoded map's keys (sorted, quoted), or the kind of docker's error:
// shape (not JSON, or a wrong type), unknown-key, trailing (more than one JSON object),
// missing-auth, bad-auth. It never prints a value's secret: the cases hold made-up ones.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

type configEnvAuth struct {
	Auth string `json:"auth"`
}

type configEnv struct {
	AuthConfigs map[string]configEnvAuth `json:"auths"`
}

// kind tags an error with the verdict it stands for.
type kind struct {
	name string
	err  error
}

func (k kind) Error() string { return k.name + ": " + k.err.Error() }

func parseEnvConfig(v string) (map[string]string, error) {
	envConfig := &configEnv{}
	decoder := json.NewDecoder(strings.NewReader(v))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(envConfig); err != nil && !errors.Is(err, io.EOF) {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return nil, kind{"unknown-key", err}
		}
		return nil, kind{"shape", err}
	}
	if decoder.More() {
		return nil, kind{"trailing", errors.New("DOCKER_AUTH_CONFIG does not support more than one JSON object")}
	}

	authConfigs := make(map[string]string)
	for addr, envAuth := range envConfig.AuthConfigs {
		if envAuth.Auth == "" {
			return nil, kind{"missing-auth", fmt.Errorf("DOCKER_AUTH_CONFIG environment variable is missing key `auth` for %s", addr)}
		}
		username, _, err := decodeAuth(envAuth.Auth)
		if err != nil {
			return nil, kind{"bad-auth", err}
		}
		authConfigs[addr] = username
	}
	return authConfigs, nil
}

func decodeAuth(authStr string) (string, string, error) {
	if authStr == "" {
		return "", "", nil
	}

	decLen := base64.StdEncoding.DecodedLen(len(authStr))
	decoded := make([]byte, decLen)
	authByte := []byte(authStr)
	n, err := base64.StdEncoding.Decode(decoded, authByte)
	if err != nil {
		return "", "", err
	}
	if n > decLen {
		return "", "", errors.New("Something went wrong decoding auth config")
	}
	userName, password, ok := strings.Cut(string(decoded), ":")
	if !ok || userName == "" {
		return "", "", errors.New("Invalid auth configuration file")
	}
	return userName, strings.Trim(password, "\x00"), nil
}

// verdict is docker's reading of value, as cases.txt writes it.
func verdict(value string) string {
	m, err := parseEnvConfig(value)
	if err != nil {
		var k kind
		if errors.As(err, &k) {
			return k.name
		}
		return "unexpected: " + err.Error()
	}
	keys := []string{"ok"}
	for k := range m {
		keys = append(keys, strconv.Quote(k))
	}
	sort.Strings(keys[1:])
	return strings.Join(keys, " ")
}

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "check" && os.Args[1] != "write") {
		fmt.Fprintln(os.Stderr, "usage: go run . check|write cases.txt")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var out strings.Builder
	wrong := 0
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			out.WriteString(text + "\n")
			continue
		}
		was, quoted, ok := strings.Cut(text, "\t")
		value, err := strconv.Unquote(quoted)
		if !ok || err != nil {
			fmt.Fprintf(os.Stderr, "line %d: not a verdict, a tab and a quoted value\n", line)
			os.Exit(2)
		}
		got := verdict(value)
		if got != was {
			wrong++
			fmt.Printf("line %d: docker says %s, the file says %s: %s\n", line, got, was, quoted)
		}
		out.WriteString(got + "\t" + quoted + "\n")
	}
	fmt.Printf("%s: %d cases differ (docker/cli v28.5.2 code, %s)\n", os.Args[2], wrong, runtime.Version())
	if os.Args[1] == "write" {
		if err := os.WriteFile(os.Args[2], []byte(out.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	} else if wrong > 0 {
		os.Exit(1)
	}
}
