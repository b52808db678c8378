// The `config` mode: a CredentialProviderConfig file read and validated as the kubelet of
// Kubernetes v1.37.2 does at start (pkg/credentialprovider/plugin/config.go), for
// kubelet.config.k8s.io/v1 (the kubelet also reads v1alpha1 and v1beta1; our examples are v1).
// It only reads.
package main

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"
	"sigs.k8s.io/yaml"
)

// configErrors is every reason the kubelet would refuse to start with file as its
// --image-credential-provider-config, none when it loads it. Each file stands alone: the
// examples under deploy/kubelet are alternatives, so the kubelet's check across the files of a
// config directory (config.go:106-117, a provider name only once) is not applied.
func configErrors(file string) []string {
	data, err := os.ReadFile(file)
	if err != nil {
		return []string{err.Error()}
	}
	if j, err := yaml.YAMLToJSON(data); err == nil {
		if gvk, err := kjson.DefaultMetaFactory.Interpret(j); err == nil && gvk.Group == kubeletconfigv1.GroupName && gvk.Version != kubeletconfigv1.SchemeGroupVersion.Version {
			return []string{fmt.Sprintf("apiVersion %s: the kubelet also reads it, this oracle only %s: write that", gvk.GroupVersion(), kubeletconfigv1.SchemeGroupVersion)}
		}
	}
	// config.go:123-143 decodes with the strict universal decoder, which reads YAML by turning it
	// into JSON (strictly: a duplicate key is an error) and refuses unknown fields. We decode
	// into kubelet.config.k8s.io/v1, the one version whose type is importable.
	obj, gvk, err := codecs.UniversalDecoder(kubeletconfigv1.SchemeGroupVersion).Decode(data, nil, nil)
	if err != nil {
		return []string{refused + "error decoding: " + err.Error()}
	}
	if gvk.Kind != "CredentialProviderConfig" || gvk.Group != kubeletconfigv1.GroupName {
		return []string{fmt.Sprintf(refused+"kind %q of group %q, not a CredentialProviderConfig", gvk.Kind, gvk.Group)}
	}
	config, ok := obj.(*kubeletconfigv1.CredentialProviderConfig)
	if !ok {
		return []string{fmt.Sprintf("decoded as %T (apiVersion %s), not the %s this oracle reads", obj, gvk.GroupVersion(), kubeletconfigv1.SchemeGroupVersion)}
	}
	// KubeletServiceAccountTokenForCredentialProviders is on by default since 1.34
	// (pkg/features/kube_features.go:1808-1811), so tokenAttributes are allowed.
	errs := validateConfig(config)
	if len(errs) > 0 {
		errs[0] = refused + errs[0]
	}
	return errs
}

// refused opens the first reason of a config the kubelet itself would not load.
const refused = "the kubelet refuses it: "

// validateConfig is config.go:145-243 (validateCredentialProviderConfig) with the feature gate
// on, over the v1 type (the conversion to the internal type copies these fields as they are).
func validateConfig(config *kubeletconfigv1.CredentialProviderConfig) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if len(config.Providers) == 0 {
		bad("providers: at least 1 item is required")
	}
	seen := sets.New[string]()
	for i, p := range config.Providers {
		at := fmt.Sprintf("providers[%d]", i)
		if strings.Contains(p.Name, "/") || strings.Contains(p.Name, " ") || p.Name == "." || p.Name == ".." {
			bad("%s.name %q: no '/', no space, not '.' or '..'", at, p.Name)
		}
		if seen.Has(p.Name) {
			bad("%s.name %q: duplicate", at, p.Name)
		}
		seen.Insert(p.Name)
		if p.APIVersion == "" {
			bad("%s.apiVersion: required", at)
		} else if _, ok := apiVersions[p.APIVersion]; !ok {
			bad("%s.apiVersion %q: not supported", at, p.APIVersion)
		}
		if len(p.MatchImages) == 0 {
			bad("%s.matchImages: at least 1 item is required", at)
		}
		for _, m := range p.MatchImages {
			// credentialprovider.ParseSchemelessURL (keyring.go:219-227): a URL once https:// is put in front.
			if _, err := url.Parse("https://" + m); err != nil {
				bad("%s.matchImages %q: %v", at, m, err)
			}
		}
		if p.DefaultCacheDuration == nil {
			bad("%s.defaultCacheDuration: required", at)
		} else if p.DefaultCacheDuration.Duration < 0 {
			bad("%s.defaultCacheDuration %s: must be >= 0", at, p.DefaultCacheDuration.Duration)
		}
		if t := p.TokenAttributes; t != nil {
			ta := at + ".tokenAttributes"
			if t.ServiceAccountTokenAudience == "" {
				bad("%s.serviceAccountTokenAudience: required", ta)
			}
			if t.RequireServiceAccount == nil {
				bad("%s.requireServiceAccount: required", ta)
			}
			if p.APIVersion != credentialproviderv1.SchemeGroupVersion.String() {
				bad("%s: only for apiVersion %s", ta, credentialproviderv1.SchemeGroupVersion)
			}
			if t.RequireServiceAccount != nil && !*t.RequireServiceAccount && len(t.RequiredServiceAccountAnnotationKeys) > 0 {
				bad("%s.requiredServiceAccountAnnotationKeys: requireServiceAccount cannot be false when it is set", ta)
			}
			errs = append(errs, annotationKeyErrors(ta+".requiredServiceAccountAnnotationKeys", t.RequiredServiceAccountAnnotationKeys)...)
			errs = append(errs, annotationKeyErrors(ta+".optionalServiceAccountAnnotationKeys", t.OptionalServiceAccountAnnotationKeys)...)
			if both := sets.New(t.RequiredServiceAccountAnnotationKeys...).Intersection(sets.New(t.OptionalServiceAccountAnnotationKeys...)); both.Len() > 0 {
				bad("%s: annotation keys %q both required and optional", ta, sets.List(both))
			}
			switch t.CacheType {
			case kubeletconfigv1.ServiceAccountServiceAccountTokenCacheType, kubeletconfigv1.TokenServiceAccountTokenCacheType:
			case "":
				bad("%s.cacheType: required (ServiceAccount or Token)", ta)
			default:
				bad("%s.cacheType %q: not ServiceAccount or Token", ta, t.CacheType)
			}
		}
	}
	return errs
}

// annotationKeyErrors is config.go:245-262: each key a qualified name once lower-cased, once.
func annotationKeyErrors(at string, keys []string) []string {
	var errs []string
	seen := sets.New[string]()
	for _, k := range keys {
		for _, msg := range validation.IsQualifiedName(strings.ToLower(k)) {
			errs = append(errs, fmt.Sprintf("%s %q: %s", at, k, msg))
		}
		if seen.Has(k) {
			errs = append(errs, fmt.Sprintf("%s %q: duplicate", at, k))
		}
		seen.Insert(k)
	}
	return errs
}
