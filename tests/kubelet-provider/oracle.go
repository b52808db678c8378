// Command oracle holds the golden cases of `docker-credential-harbor kubelet-credential-provider`
// (tests/kubelet/cases) and the CredentialProviderConfig examples (deploy/kubelet) to the
// kubelet's own types and codec: it imports k8s.io/kubelet v0.37.2 (go.mod) and does, step by
// step, what the kubelet of Kubernetes v1.37.2 does with a credential provider. The kubelet's
// plugin code (k8s.io/kubernetes v1.37.2, pkg/credentialprovider/plugin) is not importable as a
// library, so each step below mirrors it and cites it; the types, the scheme and the codec are
// the kubelet's own. scripts/test runs it where Go is installed (the modules come through the Go
// module proxy):
//
//	go run . check <cases dir>   # exit 1 and name every case the kubelet disagrees with
//	go run . config <file>...    # exit 1 and name every config the kubelet would refuse to load
//
// A case is a directory with request.json (the provider's stdin) and either response.json (its
// stdout) or stderr.txt (it refused); its env file is the provider's environment, which the
// kubelet's side does not depend on, so it is not read. It never writes to the cases, and it never prints a request's token or a password except as
// part of a byte difference in a case (the cases hold made-up ones).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	credentialproviderapi "k8s.io/kubelet/pkg/apis/credentialprovider"
	"k8s.io/kubelet/pkg/apis/credentialprovider/install"
	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"
	credentialproviderv1alpha1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1alpha1"
	credentialproviderv1beta1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1beta1"
)

// The kubelet's scheme and codecs: plugin.go:69-70 builds the codec factory in strict mode and
// plugin.go:133-139 installs the credential provider API (internal, v1alpha1, v1beta1, v1) and
// the kubelet config API into it. Only kubelet.config.k8s.io/v1 of the latter is importable
// (k8s.io/kubelet/config/v1); the internal config type lives in k8s.io/kubernetes.
var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme, serializer.EnableStrict)

	// plugin.go:72-76: the apiVersions a CredentialProviderConfig may name.
	apiVersions = map[string]schema.GroupVersion{
		credentialproviderv1alpha1.SchemeGroupVersion.String(): credentialproviderv1alpha1.SchemeGroupVersion,
		credentialproviderv1beta1.SchemeGroupVersion.String():  credentialproviderv1beta1.SchemeGroupVersion,
		credentialproviderv1.SchemeGroupVersion.String():       credentialproviderv1.SchemeGroupVersion,
	}
)

func init() {
	install.Install(scheme)
	if err := kubeletconfigv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
}

// kubeletEncode is how the kubelet writes a request to a plugin's stdin (plugin.go:200-204 picks
// the application/json serializer, plugin.go:222 wraps it with EncoderForVersion for the
// provider's apiVersion, plugin.go:762-769 runtime.Encode): apimachinery's JSON serializer sets
// kind and apiVersion and ends in json.NewEncoder(w).Encode(obj) (serializer/json/json.go:258-259),
// so the bytes are encoding/json's (field order of the struct, HTML characters escaped, map keys
// sorted, one trailing newline). ecr-credential-provider writes its response the same way
// (kubernetes/cloud-provider-aws cmd/ecr-credential-provider/plugin.go, encodeResponse at
// commit 129ea2d3a4ed3b595b39504a699962ecb19cd116), so it is also the encoding a response is
// held to.
func kubeletEncode(gv schema.GroupVersion, obj runtime.Object) ([]byte, error) {
	info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), "application/json")
	if !ok {
		return nil, errors.New("no application/json serializer")
	}
	return runtime.Encode(codecs.EncoderForVersion(info.Serializer, gv), obj)
}

// sentRequest reads a case's request.json as the request the kubelet would have written: the
// same image, token and annotations encoded by the kubelet must give exactly these bytes. It
// returns the apiVersion the kubelet's config named and the request, or why the kubelet never
// writes these bytes.
func sentRequest(data []byte) (schema.GroupVersion, *credentialproviderapi.CredentialProviderRequest, error) {
	gvk, err := kjson.DefaultMetaFactory.Interpret(data)
	if err != nil {
		return schema.GroupVersion{}, nil, fmt.Errorf("no apiVersion/kind to read: %v", err)
	}
	gv, ok := apiVersions[gvk.GroupVersion().String()]
	if !ok {
		return gv, nil, fmt.Errorf("apiVersion %q is none the kubelet speaks (plugin.go:72-76)", gvk.GroupVersion().String())
	}
	obj, _, err := codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return gv, nil, fmt.Errorf("not a request of the kubelet's types: %v", err)
	}
	req, ok := obj.(*credentialproviderapi.CredentialProviderRequest)
	if !ok {
		return gv, nil, fmt.Errorf("a %T, not a CredentialProviderRequest", obj)
	}
	// plugin.go:689: the kubelet builds the request from these three values only.
	again, err := kubeletEncode(gv, &credentialproviderapi.CredentialProviderRequest{
		Image:                     req.Image,
		ServiceAccountToken:       req.ServiceAccountToken,
		ServiceAccountAnnotations: req.ServiceAccountAnnotations,
	})
	if err != nil {
		return gv, nil, fmt.Errorf("the kubelet cannot encode it: %v", err)
	}
	if diff := difference(again, data); diff != "" {
		return gv, nil, fmt.Errorf("the kubelet writes other bytes for this request: %s", diff)
	}
	return gv, req, nil
}

// acceptedResponse does with a plugin's stdout what the kubelet does: plugin.go:725-733 reads
// apiVersion/kind and requires the apiVersion the config named (the request's), plugin.go:735-739
// and 772-792 decode it with the strict codec into the internal type (an unknown or duplicate
// field is a strict decoding error, which the versioning codec returns, versioning.go:139-195, and
// decodeResponse refuses), then provide() (plugin.go:534-556) refuses the request's own
// service-account token as a password (unless the config's cacheType is Token, which our docs
// never use) and any cacheKeyType but Image, Registry or Global. A refused response means the
// kubelet logs the error (plugin.go:414-419) and pulls without this provider's credentials.
func acceptedResponse(gv schema.GroupVersion, req *credentialproviderapi.CredentialProviderRequest, data []byte) (*credentialproviderapi.CredentialProviderResponse, error) {
	gvk, err := kjson.DefaultMetaFactory.Interpret(data)
	if err != nil {
		return nil, fmt.Errorf("error reading GVK from response: %v", err)
	}
	if gvk.GroupVersion().String() != gv.String() {
		return nil, fmt.Errorf("apiVersion %q does not match the request's %q", gvk.GroupVersion().String(), gv.String())
	}
	obj, gvk, err := codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("error decoding the response: %v", err)
	}
	if gvk.Kind != "CredentialProviderResponse" || gvk.Group != credentialproviderapi.GroupName {
		return nil, fmt.Errorf("kind %q of group %q, not a CredentialProviderResponse", gvk.Kind, gvk.Group)
	}
	resp, ok := obj.(*credentialproviderapi.CredentialProviderResponse)
	if !ok {
		return nil, fmt.Errorf("a %T, not a CredentialProviderResponse", obj)
	}
	if req.ServiceAccountToken != "" {
		for key, auth := range resp.Auth {
			if auth.Password == req.ServiceAccountToken {
				return nil, fmt.Errorf("auth %q has the service-account token as its password", key)
			}
		}
	}
	switch resp.CacheKeyType {
	case credentialproviderapi.ImagePluginCacheKeyType, credentialproviderapi.RegistryPluginCacheKeyType, credentialproviderapi.GlobalPluginCacheKeyType:
	default:
		return nil, fmt.Errorf("cacheKeyType %q is not Image, Registry or Global", resp.CacheKeyType)
	}
	// The keyring (keyring.go:131-172, Lookup at 294-301) offers an auth entry only for the images
	// its key matches: an entry that matches no image of this request is never used.
	for key := range resp.Auth {
		if !keyMatches(key, req.Image) {
			return nil, fmt.Errorf("auth key %q does not match image %q: the kubelet would never use it for this pull", key, req.Image)
		}
	}
	return resp, nil
}

// keyMatches is the kubelet keyring's rule for an auth key and an image (keyring.go:143-167 turns
// the key into host+path, dropping a scheme and a /v1/ or /v2/ prefix; URLsMatch, keyring.go:
// 261-289, wants the same port, as many host labels, each label matching as a glob, and the
// key's path a prefix of the image's).
func keyMatches(key, image string) bool {
	if !strings.HasPrefix(key, "https://") && !strings.HasPrefix(key, "http://") {
		key = "https://" + key
	}
	k, err := url.Parse(key)
	if err != nil {
		return false
	}
	p := k.Path
	if strings.HasPrefix(p, "/v2/") || strings.HasPrefix(p, "/v1/") {
		p = p[3:]
	}
	if p == "/" {
		p = ""
	}
	glob, err1 := url.Parse("https://" + k.Host + p)
	target, err2 := url.Parse("https://" + image)
	if err1 != nil || err2 != nil {
		return false
	}
	gLabels, gPort := labelsAndPort(glob.Host)
	tLabels, tPort := labelsAndPort(target.Host)
	if gPort != tPort || len(gLabels) != len(tLabels) || !strings.HasPrefix(target.Path, glob.Path) {
		return false
	}
	for i := range gLabels {
		if ok, err := filepath.Match(gLabels[i], tLabels[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

func labelsAndPort(hostport string) ([]string, string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	return strings.Split(host, "."), port
}

// difference says where got and want part, quoted as Go quotes strings, or "" when they are
// the same bytes.
func difference(got, want []byte) string {
	if bytes.Equal(got, want) {
		return ""
	}
	at := 0
	for at < len(got) && at < len(want) && got[at] == want[at] {
		at++
	}
	window := func(b []byte) string {
		from, to := max(at-20, 0), min(at+40, len(b))
		return strconv.Quote(string(b[from:to]))
	}
	return fmt.Sprintf("byte %d: the kubelet's encoding has %s, the case has %s", at, window(got), window(want))
}

// checkCase gives the verdict on one case directory: ok, and a line for the report.
func checkCase(dir string) (bool, string) {
	request, err := os.ReadFile(filepath.Join(dir, "request.json"))
	if err != nil {
		return false, fmt.Sprintf("cannot read the request: %v", err)
	}
	response, respErr := os.ReadFile(filepath.Join(dir, "response.json"))
	stderr, stderrErr := os.ReadFile(filepath.Join(dir, "stderr.txt"))
	switch {
	case respErr == nil && stderrErr == nil:
		return false, "has both response.json and stderr.txt: a case is one or the other"
	case respErr == nil:
		gv, req, err := sentRequest(request)
		if err != nil {
			return false, "request.json: " + err.Error()
		}
		resp, err := acceptedResponse(gv, req, response)
		if err != nil {
			return false, "response.json: the kubelet refuses it: " + err.Error()
		}
		again, err := kubeletEncode(gv, resp)
		if err != nil {
			return false, "response.json: cannot encode it again: " + err.Error()
		}
		if diff := difference(again, response); diff != "" {
			return false, "response.json: the kubelet accepts it but Go encodes it otherwise: " + diff
		}
		return true, "ok: the kubelet sends this request and accepts this response (" + caching(resp) + ")" + narrowKeyWarning(resp)
	case stderrErr == nil:
		_, req, err := sentRequest(request)
		if err != nil {
			return true, "skip: the kubelet never sends this request (" + err.Error() + ")"
		}
		// plugin.go:720-722: the kubelet puts the plugin's stderr in the error it logs (plugin.go:414-419).
		if req.ServiceAccountToken != "" && bytes.Contains(stderr, []byte(req.ServiceAccountToken)) {
			return false, "stderr.txt holds the service-account token, which the kubelet would log"
		}
		return true, "ok: the kubelet sends this request; on the refusal it logs the provider's stderr and pulls without its credentials"
	default:
		return false, "has neither response.json nor stderr.txt"
	}
}

// narrowKeyWarning points out a response the kubelet accepts but then serves wrongly: with
// cacheKeyType Registry (or Global) the kubelet looks a later image up in its cache by the image,
// then its registry, then "global" (plugin.go:612-633), and calls no provider on a hit; an auth
// key with a path (a project) then answers every image of the registry until the cache entry
// ends, and the keyring offers it to none outside that path (keyring.go:272-274), so those pulls
// go without credentials. Not a disagreement on these bytes: a warning on the line.
func narrowKeyWarning(resp *credentialproviderapi.CredentialProviderResponse) string {
	if resp.CacheKeyType == credentialproviderapi.ImagePluginCacheKeyType || (resp.CacheDuration != nil && resp.CacheDuration.Duration <= 0) {
		return ""
	}
	var narrow []string
	for key := range resp.Auth {
		if u, err := url.Parse("https://" + strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")); err == nil && strings.Trim(u.Path, "/") != "" {
			narrow = append(narrow, strconv.Quote(key))
		}
	}
	if len(narrow) == 0 {
		return ""
	}
	sort.Strings(narrow)
	return "; warning: cacheKeyType " + string(resp.CacheKeyType) + " with auth keyed by a path (" + strings.Join(narrow, ", ") +
		"): until the entry ends the kubelet answers every image of the registry from its cache, without credentials outside that path"
}

// caching says what the kubelet does with the response's cacheDuration (plugin.go:566-580).
func caching(resp *credentialproviderapi.CredentialProviderResponse) string {
	switch {
	case resp.CacheDuration == nil:
		return "cached per " + string(resp.CacheKeyType) + " for the config's defaultCacheDuration"
	case resp.CacheDuration.Duration <= 0:
		return "not cached"
	default:
		return "cached per " + string(resp.CacheKeyType) + " for " + resp.CacheDuration.Duration.String()
	}
}

// check runs every case under dir, prints a line for each and a summary, and returns how many
// the kubelet disagrees with.
func check(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return 0, fmt.Errorf("no case directories in %s", dir)
	}
	bad := 0
	for _, name := range names {
		ok, line := checkCase(filepath.Join(dir, name))
		if !ok {
			bad++
			line = "DISAGREES: " + line
		}
		fmt.Printf("%s: %s\n", name, oneLine(line))
	}
	fmt.Printf("%d cases, %d the kubelet disagrees with\n", len(names), bad)
	return bad, nil
}

// oneLine keeps a verdict on its line: the YAML decoder's errors span lines.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func main() {
	if len(os.Args) < 3 || (os.Args[1] != "check" && os.Args[1] != "config") || (os.Args[1] == "check" && len(os.Args) != 3) {
		fmt.Fprintln(os.Stderr, "usage: go run . check <cases dir> | go run . config <file.yaml>...")
		os.Exit(2)
	}
	bad := 0
	if os.Args[1] == "check" {
		n, err := check(os.Args[2])
		if err != nil {
			fmt.Fprintf(os.Stderr, "kubelet-provider oracle: %v\n", err)
			os.Exit(1)
		}
		bad = n
	} else {
		for _, file := range os.Args[2:] {
			if errs := configErrors(file); len(errs) > 0 {
				bad++
				fmt.Printf("%s: DISAGREES: %s\n", file, oneLine(strings.Join(errs, "; ")))
			} else {
				fmt.Printf("%s: ok: the kubelet loads it\n", file)
			}
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
}
