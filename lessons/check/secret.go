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
	Register(Definition{
		Name:     "secret.pull",
		Params:   []string{"secret"},
		Optional: []string{"image"},
		Needs:    NeedsCluster | NeedsRegistry,
		Watches:  []*Subject{Secrets},
		Resets:   []*Subject{Secrets},
		Criteria: []Criterion{
			{Name: "exists", Doc: "a secret of that name is in the learner's namespace", Gate: true},
			{Name: "type", Doc: "it is a kubernetes.io/dockerconfigjson secret the kubelet can read"},
			{Name: "server", Doc: "its server matches the image's registry the way the kubelet matches it"},
			{Name: "credentials", Doc: "the registry accepts its credentials"},
		},
		Run: checkPullSecret,
	})
}

// kubectl's default --docker-server: what a secret holds when the flag is left out.
const kubectlDefaultServer = "https://index.docker.io/v1/"

// checkPullSecret passes when the named secret in the lesson's namespace is
// a kubernetes.io/dockerconfigjson secret whose entry the kubelet would pick
// for the image, with credentials the registry accepts.
func checkPullSecret(ctx context.Context, env *Env, req Request) (Result, error) {
	secretName := req.Params["secret"]
	image, err := imageRepository(req.Param("image", env.Registry.Repo("apps/internal-app")))
	if err != nil {
		return Result{}, err
	}
	secret, err := env.Kube.CoreV1().Secrets(env.Namespace).Get(ctx, secretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		missing, err := missingSecret(ctx, env, secretName)
		return fail(chargedTo("exists", missing)...), err
	}
	if err != nil {
		return Result{}, fmt.Errorf("reading secret %s/%s: %w", env.Namespace, secretName, err)
	}
	_, found, err := analyzePullSecret(ctx, env, secret, image, true)
	if err != nil {
		return Result{}, err
	}
	return result(env.T("Secret %s is a %s secret for %s, and the registry accepts its credentials.", secretName, corev1.SecretTypeDockerConfigJson, env.Registry.Host), found...), nil
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
// in another of the learner's namespaces, or under another name. It looks
// only where the learner may have put it (Env.StrayNamespaces), never
// across the cluster: on a shared cluster other namespaces are other
// people's, and not to be named.
func missingSecret(ctx context.Context, env *Env, name string) ([]Finding, error) {
	var elsewhere []string
	for _, ns := range env.StrayNamespaces {
		if ns == env.Namespace {
			continue
		}
		// A namespace we may not read is simply not where we look.
		if _, err := env.Kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			elsewhere = append(elsewhere, ns)
		}
	}
	if len(elsewhere) > 0 {
		return []Finding{{Code: "secret-wrong-namespace",
			Problem:  env.T("Secret %s is in the namespace %s, but the pods are in %s: a pod can only use secrets of its own namespace.", name, strings.Join(elsewhere, env.T(" and ")), env.Namespace),
			Expected: env.T("secret %s in namespace %s", name, env.Namespace),
			Try:      env.T("Create it again with -n %s (and delete the stray one: kubectl delete secret %s -n %s).", env.Namespace, name, elsewhere[0])}}, nil
	}
	local, err := env.Kube.CoreV1().Secrets(env.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing secrets in %s: %w", env.Namespace, err)
	}
	var found []Finding
	for _, s := range local.Items {
		if s.Type == corev1.SecretTypeDockerConfigJson || s.Type == corev1.SecretTypeDockercfg {
			found = append(found, Finding{Code: "secret-other-name",
				Problem:  env.T("There is a pull secret named %s, but the step asks for %s.", s.Name, name),
				Expected: "secret " + name, Try: env.T("Names must match exactly; create %s (or use %s everywhere the step says %s).", name, s.Name, name)})
		}
	}
	if len(found) > 0 {
		return found, nil
	}
	return []Finding{{Code: "secret-missing",
		Problem:  env.T("No secret %s in namespace %s yet%s.", name, env.Namespace, lookedIn(env)),
		Expected: env.T("secret %s of type %s", name, corev1.SecretTypeDockerConfigJson),
		Try:      fmt.Sprintf("kubectl create secret docker-registry %s --docker-server=%s --docker-username=%s --docker-password='…'", name, env.Registry.Host, env.Registry.User)}}, nil
}

// lookedIn says where else missingSecret looked, for the learner.
func lookedIn(env *Env) string {
	var others []string
	for _, ns := range env.StrayNamespaces {
		if ns != env.Namespace {
			others = append(others, ns)
		}
	}
	if len(others) == 0 {
		return ""
	}
	return env.T(" (nor in %s)", strings.Join(others, env.T(" or ")))
}

// analyzePullSecret returns a finding for everything that would keep the
// kubelet from pulling image with secret, and reports whether the secret
// would serve the image. strictType (the secret step) makes the legacy
// dockercfg type a problem; elsewhere it is advice, as the kubelet still
// reads it.
func analyzePullSecret(ctx context.Context, env *Env, secret *corev1.Secret, image string, strictType bool) (bool, []Finding, error) {
	name := secret.Name
	createAgain := fmt.Sprintf("kubectl delete secret %s && kubectl create secret docker-registry %s --docker-server=%s --docker-username=%s --docker-password='…'",
		name, name, env.Registry.Host, env.Registry.User)

	found, cfg, decodeErr := secretType(env, secret, strictType, createAgain)
	if decodeErr != nil {
		found = append(found, Finding{Code: "secret-json-invalid", Criterion: "type",
			Problem:  env.T("Secret %s does not hold a readable docker config: %v.", name, decodeErr),
			Expected: `{"auths": {"` + env.Registry.Host + `": {"username": …, "password": …}}}`, Try: createAgain})
	}

	var matched []DockerAuth
	var mismatches []Finding
	for _, a := range cfg.Auths {
		key, err := ParseServerKey(a.Key)
		if err != nil {
			mismatches = append(mismatches, Finding{Code: "secret-server-invalid", Criterion: "server",
				Problem:  env.T("Secret %s has the server %q, which is not a registry address: %v.", name, a.Key, err),
				Expected: env.Registry.Host, Try: createAgain})
			continue
		}
		if key.Matches(image) {
			matched = append(matched, a)
			if key.Scheme != "" || key.Path != "" {
				found = append(found, Finding{Code: "secret-server-decorated", Severity: Advice,
					Problem: env.T("The server %q carries a scheme or a path; it still matches %s, but write the registry as host:port: a path limits which images the entry serves.", a.Key, image),
					Try:     "--docker-server=" + env.Registry.Host})
			}
			continue
		}
		mismatches = append(mismatches, serverMismatch(env, name, a.Key, key, image, env.Registry.Host, createAgain))
	}
	// Entries for other registries are harmless once one entry serves the
	// image (a config.json copied whole has Docker Hub in it too).
	if len(matched) > 0 {
		mismatches = asAdvice(mismatches)
	}
	found = append(found, mismatches...)
	if len(cfg.Auths) == 0 && decodeErr == nil && (secret.Type == corev1.SecretTypeDockerConfigJson || secret.Type == corev1.SecretTypeDockercfg) {
		found = append(found, Finding{Code: "secret-no-auths", Criterion: "server", Problem: env.T("Secret %s has no registry entries.", name), Expected: env.Registry.Host, Try: createAgain})
	}

	// Check the credentials too, of the matching entries — or, when none
	// matches, of every entry: a learner fixing the server should not
	// discover a wrong password only afterwards.
	toCheck := matched
	if len(matched) == 0 {
		toCheck = cfg.Auths
	}
	for _, a := range toCheck {
		said, err := secretCredentials(ctx, env, name, a, cfg, createAgain)
		if err != nil {
			return false, nil, err
		}
		found = append(found, said...)
	}
	return len(matched) > 0 && !hasProblem(found), found, nil
}

// secretType judges the secret's type and decodes its docker config.
func secretType(env *Env, secret *corev1.Secret, strictType bool, createAgain string) ([]Finding, DockerConfig, error) {
	name := secret.Name
	switch secret.Type {
	case corev1.SecretTypeDockerConfigJson:
		cfg, err := DecodeDockerConfig(secret.Data[corev1.DockerConfigJsonKey])
		return nil, cfg, err
	case corev1.SecretTypeDockercfg:
		msg, try := env.T("Secret %s has the old type %s.", name, secret.Type), env.T("kubectl create secret docker-registry makes the right type: %s", createAgain)
		f := Finding{Code: "secret-dockercfg-type", Criterion: "type", Problem: msg, Expected: "type " + string(corev1.SecretTypeDockerConfigJson), Try: try}
		if !strictType {
			f = Finding{Code: "secret-dockercfg-type", Severity: Advice, Problem: msg + " " + env.T("The kubelet still reads it."), Try: try}
		}
		auths, err := DecodeDockercfg(secret.Data[corev1.DockerConfigKey])
		return []Finding{f}, DockerConfig{Auths: auths}, err
	case corev1.SecretTypeOpaque:
		f := Finding{Code: "secret-opaque", Criterion: "type",
			Problem:  env.T("Secret %s is Opaque (kubectl create secret generic): the kubelet ignores it for pulls.", name),
			Expected: "type " + string(corev1.SecretTypeDockerConfigJson), Try: env.T("Use docker-registry, not generic: %s", createAgain)}
		if data, ok := secret.Data[corev1.DockerConfigJsonKey]; ok {
			cfg, err := DecodeDockerConfig(data)
			return []Finding{f}, cfg, err
		}
		return []Finding{f}, DockerConfig{}, nil
	}
	return []Finding{{Code: "secret-wrong-type", Criterion: "type", Problem: env.T("Secret %s has the type %s.", name, secret.Type),
		Expected: "type " + string(corev1.SecretTypeDockerConfigJson), Try: createAgain}}, DockerConfig{}, nil
}

// serverMismatch names why a server key misses the image.
func serverMismatch(env *Env, secret, raw string, key ServerKey, image, registry, createAgain string) Finding {
	imageHost := strings.SplitN(image, "/", 2)[0]
	f := Finding{Criterion: "server", Try: createAgain, Expected: "server " + imageHost}
	switch {
	case raw == kubectlDefaultServer || key.Host == "index.docker.io" || key.Host == "docker.io":
		f.Code, f.Expected, f.Try = "secret-server-default", "server "+registry, env.T("Name the registry: %s", createAgain)
		f.Problem = env.T("Secret %s holds credentials for Docker Hub (%s): that is kubectl's default when --docker-server is left out.", secret, raw)
	case sameHostOtherPort(key.Host, imageHost):
		f.Code = "secret-server-port"
		f.Problem = env.T("Secret %s is for %s, but the image comes from %s: the port is part of the registry's name.", secret, key.Host, imageHost)
	case key.Host == imageHost && key.Path != "":
		f.Code, f.Expected = "secret-server-path", env.T("server %s with no path", imageHost)
		f.Problem = env.T("Secret %s's server %q has the path %s, so it only matches images under it, not %s.", secret, raw, key.Path, image)
	default:
		f.Code = "secret-server-mismatch"
		f.Problem = env.T("Secret %s is for %s, but the image comes from %s: the kubelet matches the host by name (globs per label allowed) and the port exactly.", secret, raw, imageHost)
	}
	return f
}

// secretCredentials asks the registry whether a secret entry's
// credentials work, and says how they differ from the ones given.
func secretCredentials(ctx context.Context, env *Env, secret string, a DockerAuth, cfg DockerConfig, createAgain string) ([]Finding, error) {
	if a.Username == "" && a.Password == "" {
		return []Finding{emptyEntry(secret, a, cfg, env)}, nil
	}
	if strings.HasSuffix(a.Password, "\n") {
		// Named precisely here, rather than as "refused" below.
		return []Finding{{Code: "secret-auth-newline", Criterion: "credentials",
			Problem:  env.T("The password in secret %s ends with a newline: the auth field was made with echo, which adds one.", secret),
			Expected: env.T("base64 of user:password, nothing more"), Try: env.T("Use printf '%%s' 'user:password' | base64, or let kubectl build it: %s", createAgain)}}, nil
	}
	err := Authenticate(ctx, env.transport(), env.Registry.Host, &authn.Basic{Username: a.Username, Password: a.Password})
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, errUnauthorized) {
		return nil, fmt.Errorf("asking the registry %s: %w", env.Registry.Host, err)
	}
	want := env.Registry
	f := Finding{Criterion: "credentials", Evidence: err.Error()}
	switch {
	case a.Username != want.User:
		f.Code, f.Expected, f.Try = "secret-wrong-user", env.T("user %q", want.User), createAgain
		f.Problem = env.T("Secret %s has the user %s; the registry refuses it.", secret, quote(env, a.Username))
	case strings.Contains(want.Password, "$") && (a.Password == ShellExpand(want.Password, noVars) || a.Password == ShellExpand(want.Password, os.Getenv)):
		f.Code, f.Expected = "secret-password-dollar", env.T("the password exactly as given")
		f.Problem = env.T("Secret %s's password lost its $… part: the shell read it as a variable and put nothing in its place.", secret)
		f.Try = env.T("Put the password in single quotes: %s", "--docker-password='"+want.Password+"'")
	default:
		f.Code, f.Expected = "secret-wrong-password", env.T("the sandbox's registry password")
		f.Problem = env.T("The registry refuses the password in secret %s (user %s).", secret, quote(env, a.Username))
		f.Try = env.T("Check the password (copy it again) and create the secret again: %s", createAgain)
		if strings.Contains(want.Password, "$") {
			f.Try = env.T("The password has a $: put it in single quotes.") + " " + f.Try
		}
	}
	return []Finding{f}, nil
}

// emptyEntry explains an entry with no credentials at all: what a secret
// made from a docker config.json holds when docker keeps the password in
// a credential store or helper, and writes only an empty entry.
func emptyEntry(secret string, a DockerAuth, cfg DockerConfig, env *Env) Finding {
	fromFlags := env.T("Make the secret from explicit flags instead: kubectl delete secret %s && kubectl create secret docker-registry %s --docker-server=%s --docker-username=%s --docker-password='…'",
		secret, secret, env.Registry.Host, env.Registry.User)
	if helper := cfg.HelperFor(a.Key); helper != "" {
		return Finding{Code: "secret-credentials-in-helper", Criterion: "credentials",
			Problem:  env.T("Secret %s was made from a docker config.json that holds no credentials for %s: docker keeps them in the credential helper %q (docker-credential-%s), and the file only has an empty entry. The kubelet cannot ask your helper.", secret, a.Key, helper, helper),
			Expected: env.T("a username and password in the secret itself"), Try: fromFlags}
	}
	return Finding{Code: "secret-credentials-empty", Criterion: "credentials",
		Problem:  env.T("Secret %s's entry for %s has no username, password or auth: nothing to log in with.", secret, a.Key),
		Expected: env.T("a username and password in the secret itself"), Try: fromFlags}
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
