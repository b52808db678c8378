// Command oracle reads DOCKER_AUTH_CONFIG values the way the docker CLI does, by running
// docker's own code: it imports docker/cli v28.5.2 (go.mod) and asks
// configfile.GetCredentialsStore, with the value in the environment, for every credential,
// as `docker build` does. It checks or rewrites the verdicts in cases.txt, which
// tests/auth_env.rs holds our parser to. scripts/test runs `check` where Go is installed
// (docker/cli comes through the Go module proxy):
//
//	go run . check cases.txt   # exit 1 and list every verdict docker disagrees with
//	go run . write cases.txt   # set every verdict to docker's
//
// A line of cases.txt is a verdict, a tab, and the value quoted as Go quotes strings. The
// verdict is "ok" and the keys docker serves from the value (sorted, quoted), or the kind of
// the error docker prints when it rejects the value: shape (not JSON, or a wrong type),
// unknown-key, trailing (more than one JSON object), missing-auth, bad-auth. It never prints a
// value's secret: the cases hold made-up ones.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/cli/cli/config/configfile"
)

// rejected is the line docker prints when it does not use the variable.
const rejected = "Failed to create credential store from DOCKER_AUTH_CONFIG: "

// kinds maps what docker's error says to the verdict cases.txt names it by; shape otherwise.
var kinds = []struct{ says, kind string }{
	{"json: unknown field", "unknown-key"},
	{"does not support more than one JSON object", "trailing"},
	{"is missing key `auth`", "missing-auth"},
	{"illegal base64 data", "bad-auth"},
	{"Invalid auth configuration file", "bad-auth"},
	{"Something went wrong decoding auth config", "bad-auth"},
}

// empty is a config file that does not exist: docker's fallback store then holds nothing, so
// every key served comes from the variable.
var empty = filepath.Join(os.TempDir(), "docker-auth-config-oracle", "absent", "config.json")

// docker runs docker's credential store over value and returns what it served, or what it
// printed on stderr when it rejected the value.
func docker(value string) (keys []string, complaint string) {
	if err := os.Setenv(configfile.DockerEnvConfigKey, value); err != nil {
		return nil, "cannot be an environment variable: " + err.Error()
	}
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	all, err := configfile.New(empty).GetCredentialsStore("").GetAll()
	os.Stderr = stderr
	w.Close()
	said, _ := io.ReadAll(r)
	r.Close()
	if err != nil {
		return nil, "GetAll: " + err.Error()
	}
	for k := range all {
		keys = append(keys, strconv.Quote(k))
	}
	sort.Strings(keys)
	return keys, string(said)
}

// verdict is docker's reading of value, as cases.txt writes it.
func verdict(value string) string {
	keys, said := docker(value)
	if said == "" {
		return strings.Join(append([]string{"ok"}, keys...), " ")
	}
	why, ok := strings.CutPrefix(strings.TrimSpace(said), rejected)
	if !ok {
		return "unexpected: " + strconv.Quote(said)
	}
	for _, k := range kinds {
		if strings.Contains(why, k.says) {
			return k.kind
		}
	}
	return "shape"
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
	fmt.Printf("%s: %d cases differ (docker/cli v28.5.2, %s)\n", os.Args[2], wrong, runtime.Version())
	if os.Args[1] == "write" {
		if err := os.WriteFile(os.Args[2], []byte(out.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	} else if wrong > 0 {
		os.Exit(1)
	}
}
