// Tests of the oracle itself on cases and configs of its own (testdata): each verdict the
// kubelet's code gives is the one expected, so `check` and `config` can be trusted to fail.
package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckCases(t *testing.T) {
	want := map[string]struct {
		ok   bool
		says string
	}{
		"ok-static-registry":              {true, "cached per Registry for the config's defaultCacheDuration"},
		"ok-federated-image":              {true, "cached per Image for 4m0s)"},
		"ok-static-unlisted":              {true, "accepts this response"},
		"ok-federated-port":               {true, "cached per Registry for 4m0s); warning: cacheKeyType Registry with auth keyed by a path (\"harbor.example.com:8443/ci-images\")"},
		"bad-cache-key-type":              {false, `cacheKeyType "Host" is not Image, Registry or Global`},
		"bad-field-order":                 {false, "the kubelet accepts it but Go encodes it otherwise: byte 2"},
		"bad-html-escaping":               {false, `a\\u003cb\\u0026c\\u003ed`},
		"bad-empty-auth-object":           {false, "the kubelet accepts it but Go encodes it otherwise"},
		"bad-no-trailing-newline-request": {false, "request.json: the kubelet writes other bytes"},
		"bad-request-field-order":         {false, "request.json: the kubelet writes other bytes"},
		"bad-unknown-field":               {false, `strict decoding error: unknown field "expiresAt"`},
		"bad-wrong-api-version":           {false, `does not match the request's "credentialprovider.kubelet.k8s.io/v1"`},
		"bad-echoed-token":                {false, "service-account token as its password"},
		"bad-key-for-another-project":     {false, "would never use it for this pull"},
		"refused-malformed":               {true, "skip: the kubelet never sends this request"},
		"refused-v1beta1":                 {true, "the kubelet sends this request; on the refusal"},
		"refused-leaks-token":             {false, "stderr.txt holds the service-account token"},
	}
	dirs, err := os.ReadDir("testdata/cases")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != len(want) {
		t.Errorf("%d case directories, %d expected verdicts: every case needs one", len(dirs), len(want))
	}
	for _, d := range dirs {
		w, known := want[d.Name()]
		if !known {
			t.Errorf("%s: no expected verdict", d.Name())
			continue
		}
		ok, line := checkCase(filepath.Join("testdata/cases", d.Name()))
		if ok != w.ok || !strings.Contains(line, w.says) || (strings.Contains(line, "warning") && !strings.Contains(w.says, "warning")) {
			t.Errorf("%s: got ok=%v %q, want ok=%v and %q", d.Name(), ok, line, w.ok, w.says)
		}
	}
}

func TestConfigs(t *testing.T) {
	want := map[string]string{
		"ok-static.yaml":                     "",
		"ok-federated.yaml":                  "",
		"bad-unknown-field.yaml":             `unknown field "providers[0].matchImage"`,
		"bad-duplicate-key.yaml":             `key "defaultCacheDuration" already set`,
		"bad-no-default-cache-duration.yaml": "defaultCacheDuration: required",
		"bad-match-image.yaml":               "invalid port",
		"bad-config-v1beta1.yaml":            "the kubelet also reads it, this oracle only kubelet.config.k8s.io/v1",
		"bad-name.yaml":                      "providers[0].name",
		"bad-token-attributes.yaml":          "requireServiceAccount: required; providers[0].tokenAttributes: annotation keys [\"harbor.example.com/project\"] both required and optional; providers[0].tokenAttributes.cacheType \"Pod\"",
		"bad-token-attributes-v1beta1.yaml":  "only for apiVersion credentialprovider.kubelet.k8s.io/v1",
	}
	files, err := filepath.Glob("testdata/config/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d config files, %d expected verdicts: every file needs one", len(files), len(want))
	}
	for _, f := range files {
		says, known := want[filepath.Base(f)]
		if !known {
			t.Errorf("%s: no expected verdict", f)
			continue
		}
		got := strings.Join(configErrors(f), "; ")
		if (says == "") != (got == "") || !strings.Contains(got, says) {
			t.Errorf("%s: got %q, want %q", f, got, says)
		}
	}
}
