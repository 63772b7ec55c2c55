package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func init() {
	register(Definition{
		Name:     "secret.pull",
		Params:   []string{"secret"},
		Optional: []string{"image"},
		Needs:    NeedsCluster | NeedsRegistry,
		Run:      checkPullSecret,
	})
}

// kubectl's default --docker-server: what a secret holds when the flag is left out.
const kubectlDefaultServer = "https://index.docker.io/v1/"

// checkPullSecret passes when the named secret in the lesson's namespace is
// a kubernetes.io/dockerconfigjson secret whose entry the kubelet would pick
// for the image, with credentials the registry accepts.
func checkPullSecret(ctx context.Context, env *Env, req Request) (Result, error) {
	secretName := req.Params["secret"]
	image, err := imageRepository(req.Param("image", env.Registry.Host+"/apps/internal-app"))
	if err != nil {
		return Result{}, err
	}
	var f findings
	secret, err := env.Kube.CoreV1().Secrets(env.Namespace).Get(ctx, secretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if err := missingSecret(ctx, env, secretName, &f); err != nil {
			return Result{}, err
		}
		return f.result(""), nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("reading secret %s/%s: %w", env.Namespace, secretName, err)
	}
	ok, err := analyzePullSecret(ctx, env, secret, image, &f, true)
	if err != nil || !ok {
		return f.result(""), err
	}
	return f.result(fmt.Sprintf("Secret %s is a %s secret for %s, and the registry accepts its credentials.", secretName, corev1.SecretTypeDockerConfigJson, env.Registry.Host)), nil
}

// imageRepository normalizes an image name and drops its tag or digest:
// what the kubelet's keyring matches server keys against.
func imageRepository(image string) (string, error) {
	p, err := SplitImage(image)
	if err != nil {
		return "", fmt.Errorf("lesson parameter image %q: %w", image, err)
	}
	return p.Repository(), nil
}

// missingSecret explains a secret that is not in the lesson's namespace:
// in another namespace, or under another name.
func missingSecret(ctx context.Context, env *Env, name string, f *findings) error {
	before := len(f.list)
	// Cluster-wide listing may be forbidden on a shared cluster; then we
	// simply cannot tell, which is fine.
	all, err := env.Kube.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err == nil {
		for _, s := range all.Items {
			if s.Namespace != env.Namespace {
				f.problem("secret-wrong-namespace",
					fmt.Sprintf("Secret %s is in the namespace %s, but the pods are in %s: a pod can only use secrets of its own namespace.", name, s.Namespace, env.Namespace),
					fmt.Sprintf("secret %s in namespace %s", name, env.Namespace),
					fmt.Sprintf("Create it again with -n %s (and delete the stray one: kubectl delete secret %s -n %s).", env.Namespace, name, s.Namespace))
			}
		}
	}
	if hasProblemSince(f, before) {
		return nil
	}
	local, err := env.Kube.CoreV1().Secrets(env.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing secrets in %s: %w", env.Namespace, err)
	}
	for _, s := range local.Items {
		if s.Type == corev1.SecretTypeDockerConfigJson || s.Type == corev1.SecretTypeDockercfg {
			f.problem("secret-other-name", fmt.Sprintf("There is a pull secret named %s, but the step asks for %s.", s.Name, name),
				"secret "+name, fmt.Sprintf("Names must match exactly; create %s (or use %s everywhere the step says %s).", name, s.Name, name))
		}
	}
	if !hasProblemSince(f, before) {
		f.problem("secret-missing", fmt.Sprintf("No secret %s in namespace %s yet.", name, env.Namespace),
			fmt.Sprintf("secret %s of type %s", name, corev1.SecretTypeDockerConfigJson),
			fmt.Sprintf("kubectl create secret docker-registry %s --docker-server=%s --docker-username=%s --docker-password='…'", name, env.Registry.Host, env.Registry.User))
	}
	return nil
}

// analyzePullSecret adds a finding for everything that would keep the
// kubelet from pulling image with secret, and reports whether the secret
// would serve the image. strictType (the secret step) makes the legacy
// dockercfg type a problem; elsewhere it is advice, as the kubelet still
// reads it.
func analyzePullSecret(ctx context.Context, env *Env, secret *corev1.Secret, image string, f *findings, strictType bool) (bool, error) {
	before := len(f.list)
	name := secret.Name
	createAgain := fmt.Sprintf("kubectl delete secret %s && kubectl create secret docker-registry %s --docker-server=%s --docker-username=%s --docker-password='…'",
		name, name, env.Registry.Host, env.Registry.User)

	var auths []DockerAuth
	var decodeErr error
	switch secret.Type {
	case corev1.SecretTypeDockerConfigJson:
		auths, decodeErr = DecodeDockerConfigJSON(secret.Data[corev1.DockerConfigJsonKey])
	case corev1.SecretTypeDockercfg:
		msg, try := fmt.Sprintf("Secret %s has the old type %s.", name, secret.Type), "kubectl create secret docker-registry makes the right type: "+createAgain
		if strictType {
			f.problem("secret-dockercfg-type", msg, "type "+string(corev1.SecretTypeDockerConfigJson), try)
		} else {
			f.advice("secret-dockercfg-type", msg+" The kubelet still reads it.", try)
		}
		auths, decodeErr = DecodeDockercfg(secret.Data[corev1.DockerConfigKey])
	case corev1.SecretTypeOpaque:
		f.problem("secret-opaque", fmt.Sprintf("Secret %s is Opaque (kubectl create secret generic): the kubelet ignores it for pulls.", name),
			"type "+string(corev1.SecretTypeDockerConfigJson), "Use docker-registry, not generic: "+createAgain)
		if data, ok := secret.Data[corev1.DockerConfigJsonKey]; ok {
			auths, decodeErr = DecodeDockerConfigJSON(data)
		}
	default:
		f.problem("secret-wrong-type", fmt.Sprintf("Secret %s has the type %s.", name, secret.Type),
			"type "+string(corev1.SecretTypeDockerConfigJson), createAgain)
	}
	if decodeErr != nil {
		f.problem("secret-json-invalid", fmt.Sprintf("Secret %s does not hold a readable docker config: %v.", name, decodeErr),
			`{"auths": {"`+env.Registry.Host+`": {"username": …, "password": …}}}`, createAgain)
	}

	var matched []DockerAuth
	var mismatches findings
	for _, a := range auths {
		key, err := ParseServerKey(a.Key)
		if err != nil {
			mismatches.problem("secret-server-invalid", fmt.Sprintf("Secret %s has the server %q, which is not a registry address: %v.", name, a.Key, err),
				env.Registry.Host, createAgain)
			continue
		}
		if key.Matches(image) {
			matched = append(matched, a)
			if key.Scheme != "" || key.Path != "" {
				f.advice("secret-server-decorated", fmt.Sprintf("The server %q carries a scheme or a path; it still matches %s, but write the registry as host:port: a path limits which images the entry serves.", a.Key, image),
					"--docker-server="+env.Registry.Host)
			}
			continue
		}
		explainServerMismatch(&mismatches, name, a.Key, key, image, env.Registry.Host, createAgain)
	}
	// Entries for other registries are harmless once one entry serves the
	// image (a config.json copied whole has Docker Hub in it too).
	if len(matched) > 0 {
		for _, m := range mismatches.list {
			m.Severity = Advice
			f.list = append(f.list, m)
		}
	} else {
		f.list = append(f.list, mismatches.list...)
	}
	if len(auths) == 0 && decodeErr == nil && (secret.Type == corev1.SecretTypeDockerConfigJson || secret.Type == corev1.SecretTypeDockercfg) {
		f.problem("secret-no-auths", fmt.Sprintf("Secret %s has no registry entries.", name), env.Registry.Host, createAgain)
	}

	// Check the credentials too, of the matching entries — or, when none
	// matches, of every entry: a learner fixing the server should not
	// discover a wrong password only afterwards.
	toCheck := matched
	if len(matched) == 0 {
		toCheck = auths
	}
	for _, a := range toCheck {
		if strings.HasSuffix(a.Password, "\n") {
			f.problem("secret-auth-newline", fmt.Sprintf("The password in secret %s ends with a newline: the auth field was made with echo, which adds one.", name),
				"base64 of user:password, nothing more", "Use printf '%s' 'user:password' | base64, or let kubectl build it: "+createAgain)
		}
	}
	for _, a := range toCheck {
		if strings.HasSuffix(a.Password, "\n") {
			continue // named above, more precisely than "refused"
		}
		if err := checkSecretCredentials(ctx, env, f, name, a, createAgain); err != nil {
			return false, err
		}
	}
	return len(matched) > 0 && !hasProblemSince(f, before), nil
}

func hasProblemSince(f *findings, i int) bool {
	for _, x := range f.list[i:] {
		if x.Severity == Problem {
			return true
		}
	}
	return false
}

// explainServerMismatch names why a server key misses the image.
func explainServerMismatch(f *findings, secret, raw string, key ServerKey, image, registry, createAgain string) {
	imageHost := strings.SplitN(image, "/", 2)[0]
	switch {
	case raw == kubectlDefaultServer || key.Host == "index.docker.io" || key.Host == "docker.io":
		f.problem("secret-server-default", fmt.Sprintf("Secret %s holds credentials for Docker Hub (%s): that is kubectl's default when --docker-server is left out.", secret, raw),
			"server "+registry, "Name the registry: "+createAgain)
	case sameHostOtherPort(key.Host, imageHost):
		f.problem("secret-server-port", fmt.Sprintf("Secret %s is for %s, but the image comes from %s: the port is part of the registry's name.", secret, key.Host, imageHost),
			"server "+imageHost, createAgain)
	case key.Host == imageHost && key.Path != "":
		f.problem("secret-server-path", fmt.Sprintf("Secret %s's server %q has the path %s, so it only matches images under it, not %s.", secret, raw, key.Path, image),
			"server "+imageHost+" with no path", createAgain)
	default:
		f.problem("secret-server-mismatch", fmt.Sprintf("Secret %s is for %s, but the image comes from %s: the kubelet matches the server by name, exactly.", secret, raw, imageHost),
			"server "+imageHost, createAgain)
	}
}

// checkSecretCredentials asks the registry whether a secret entry's
// credentials work, and says how they differ from the ones given.
func checkSecretCredentials(ctx context.Context, env *Env, f *findings, secret string, a DockerAuth, createAgain string) error {
	err := Authenticate(ctx, env.transport(), env.Registry.Host, &authn.Basic{Username: a.Username, Password: a.Password})
	if err == nil {
		return nil
	}
	if !errors.Is(err, errUnauthorized) {
		return fmt.Errorf("asking the registry %s: %w", env.Registry.Host, err)
	}
	want := env.Registry
	switch {
	case a.Username != want.User:
		f.problem("secret-wrong-user", fmt.Sprintf("Secret %s has the user %q; the registry refuses it.", secret, a.Username),
			fmt.Sprintf("user %q", want.User), createAgain).Evidence = err.Error()
	case strings.Contains(want.Password, "$") && (a.Password == ShellExpand(want.Password, noVars) || a.Password == ShellExpand(want.Password, os.Getenv)):
		f.problem("secret-password-dollar", fmt.Sprintf("Secret %s's password lost its $… part: the shell read it as a variable and put nothing in its place.", secret),
			"the password exactly as given", "Put the password in single quotes: --docker-password='"+want.Password+"'").Evidence = err.Error()
	default:
		try := "Check the password (copy it again) and create the secret again: " + createAgain
		if strings.Contains(want.Password, "$") {
			try = "The password has a $: put it in single quotes. " + try
		}
		f.problem("secret-wrong-password", fmt.Sprintf("The registry refuses the password in secret %s (user %q).", secret, a.Username),
			"the sandbox's registry password", try).Evidence = err.Error()
	}
	return nil
}

var (
	shellVariable = regexp.MustCompile(`\$(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*|[0-9*#?@!$-])`)
	shellName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ShellExpand is what a shell makes of s, unquoted or in double quotes,
// with variables looked up by lookup ($$ and the like expand to nothing).
func ShellExpand(s string, lookup func(string) string) string {
	return shellVariable.ReplaceAllStringFunc(s, func(v string) string {
		name := strings.Trim(v[1:], "{}")
		if !shellName.MatchString(name) {
			return ""
		}
		return lookup(name)
	})
}

func noVars(string) string { return "" }
