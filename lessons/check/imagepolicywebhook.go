package check

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The ImagePolicyWebhook task: the learner configures the API server's
// ImagePolicyWebhook admission plugin, by hand on the node as in the CKS
// exam, against the backend imagelab runs (it allows only the sandbox's
// registry). The check judges what the API server does with pods, by
// server-side dry runs, never the files; it reads the manifest only to
// say what is missing.

// PolicyBackend is the ImagePolicyWebhook backend imagelab runs for the
// sandbox: an HTTPS service the node's API server reaches, allowing only
// the sandbox's registry.
type PolicyBackend interface {
	// Up starts it unless it runs.
	Up(ctx context.Context) error
	// Down stops it (for the fail-closed probe), until the next Up.
	Down(ctx context.Context) error
	// Files are what the API server needs to reach it, by base name: the
	// kubeconfig (kubeconfig.yaml) and the certificates it names.
	Files() (map[string][]byte, error)
	// URL is where the node reaches it.
	URL() string
}

// PolicyKubeconfig is the base name of the backend's kubeconfig in
// NodeFiles.ImagePolicy.
const PolicyKubeconfig = "kubeconfig.yaml"

// ImagePolicyBackend is imagelab's backend and its files on the node. Its
// setup starts the backend and puts the files in NodeFiles.ImagePolicy;
// its reset puts that folder back as given — the learner's own files there
// (the admission configuration) removed — and never stops the backend (the
// API server of a learner who turned the plugin on needs it).
var ImagePolicyBackend = &Subject{Kind: "imagepolicybackend", Seen: SeenByPolling,
	Reset:  resetImagePolicyBackend,
	Create: func(ctx context.Context, env *Env, _ []byte) error { return provideImagePolicyBackend(ctx, env) },
}

func resetImagePolicyBackend(ctx context.Context, env *Env, _ string) error {
	if err := provideImagePolicyBackend(ctx, env); err != nil {
		return err
	}
	files, err := env.PolicyBackend.Files()
	if err != nil {
		return err
	}
	script := "find " + shellQuote(env.Node.Files().ImagePolicy) + " -mindepth 1 -maxdepth 1"
	for name := range files {
		script += " ! -name " + shellQuote(name)
	}
	_, err = env.Node.Run(ctx, "sh", "-c", script+" -exec rm -rf {} +")
	return err
}

func init() {
	Register(Definition{
		Name:    "apiserver.image-policy-webhook",
		Needs:   NeedsCluster | NeedsRegistry | NeedsNode,
		Watches: []*Subject{APIServerManifest},
		Resets:  []*Subject{APIServerManifest, ImagePolicyBackend},
		Criteria: []Criterion{
			{Name: "healthy", Doc: "the API server runs and answers after the edit", Gate: true},
			{Name: "outside-refused", Doc: "a pod with an image from outside the private registry is refused, with the backend's reason"},
			{Name: "registry-admitted", Doc: "a pod with the private registry's image is admitted"},
			{Name: "fails-closed", Doc: "with the backend down, a new pod is refused (defaultAllow: false)"},
		},
		Run: checkImagePolicyWebhook,
	})
}

// provideImagePolicyBackend starts the backend and puts its files on the
// node, where the lesson says they are.
func provideImagePolicyBackend(ctx context.Context, env *Env) error {
	if env.Node == nil {
		return ErrUnavailable
	}
	if env.PolicyBackend == nil {
		return fmt.Errorf("%w: imagelab runs no image policy webhook for this sandbox", ErrUnavailable)
	}
	if err := env.PolicyBackend.Up(ctx); err != nil {
		return err
	}
	files, err := env.PolicyBackend.Files()
	if err != nil {
		return err
	}
	dir := env.Node.Files().ImagePolicy
	if _, err := env.Node.Run(ctx, "mkdir", "-p", dir); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := path.Join(dir, name)
		if now, err := env.Node.ReadFile(ctx, p); err == nil && string(now) == string(files[name]) {
			continue
		}
		if err := env.Node.WriteFile(ctx, p, files[name], 0o600); err != nil {
			return err
		}
	}
	return nil
}

// The images the probes submit: one from Docker Hub, spelled as learners
// spell it, and the private registry's own.
const outsideProbeImage = "nginx:1.27"

func checkImagePolicyWebhook(ctx context.Context, env *Env, _ Request) (Result, error) {
	found, err := apiServerHealth(ctx, env)
	if err != nil || len(found) > 0 {
		return fail(found...), err
	}
	// The backend must be there before anything is judged: a check run
	// from the command line may be the first thing this imagelab does.
	if err := provideImagePolicyBackend(ctx, env); err != nil {
		return Result{}, env.Errorf("starting imagelab's image policy webhook: %w", err)
	}
	setup := readWebhookSetup(ctx, env)
	private := env.Registry.Repo("apps/internal-app") + ":1.0"

	// An image from outside: the backend refuses it, and the API server
	// says so in the backend's words.
	var list []Finding
	outsideOK := false
	switch err := dryRunPod(ctx, env, outsideProbeImage); {
	case err == nil:
		list = append(list, setup.notConsulted(env))
	case isBackendDenial(err):
		outsideOK = true
	case mentionsBackend(err, env):
		list = append(list, unreachableBackend(env, err, "outside-refused"))
	case isRefusal(err):
		list = append(list, Finding{Code: "image-policy-refused-by-other", Criterion: "outside-refused",
			Problem:  env.T("A pod with the image %s was refused, but not by the ImagePolicyWebhook: something else refuses it.", outsideProbeImage),
			Expected: env.T("image policy webhook backend denied one or more images: … (the backend's reason)"),
			Try:      env.T("Another admission plugin or policy refuses it first (a ValidatingAdmissionPolicy from another lesson?). Turn ImagePolicyWebhook on as the step says; the other policy may stay."),
			Evidence: err.Error()})
	default:
		return Result{}, env.Errorf("submitting a dry-run pod: %w", err)
	}

	// The private registry's image: admitted.
	switch err := dryRunPod(ctx, env, private); {
	case err == nil:
	case mentionsBackend(err, env):
		list = append(list, unreachableBackend(env, err, "registry-admitted"))
	case isBackendDenial(err):
		list = append(list, Finding{Code: "image-policy-denied-registry", Criterion: "registry-admitted",
			Problem:  env.T("The backend refused %s, an image of the private registry, which it allows.", private),
			Expected: env.T("a pod with %s admitted", private),
			Try:      env.T("The API server may be talking to another backend: point imagePolicy.kubeConfigFile at %s, the kubeconfig imagelab put there.", path.Join(env.Node.Files().ImagePolicy, PolicyKubeconfig)),
			Evidence: err.Error()})
	case isRefusal(err):
		list = append(list, Finding{Code: "image-policy-registry-refused", Criterion: "registry-admitted",
			Problem:  env.T("A pod with %s, the private registry's image, was refused.", private),
			Expected: env.T("a pod with %s admitted", private), Evidence: err.Error(),
			Try: env.T("Read the reason: another admission plugin or policy refuses it.")})
	default:
		return Result{}, env.Errorf("submitting a dry-run pod: %w", err)
	}

	// Fail closed: with the backend down, a pod the API server has no
	// answer cached for (a tag of its own) is refused.
	if outsideOK {
		f, err := probeFailClosed(ctx, env, setup)
		if err != nil {
			return Result{}, err
		}
		if f != nil {
			list = append(list, *f)
		}
	}
	if len(list) > 0 {
		return fail(list...), nil
	}
	return result(env.T("The API server asks imagelab's backend (%s) about every new pod: %s is refused with its reason, %s admitted, and with the backend down nothing is admitted.",
		env.PolicyBackend.URL(), outsideProbeImage, private)), nil
}

// probeFailClosed stops the backend, submits a pod and starts the backend
// again, whatever happens.
func probeFailClosed(ctx context.Context, env *Env, setup webhookSetup) (f *Finding, err error) {
	if err := env.PolicyBackend.Down(ctx); err != nil {
		return nil, env.Errorf("stopping imagelab's image policy webhook: %w", err)
	}
	defer func() {
		upCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if uerr := env.PolicyBackend.Up(upCtx); uerr != nil && err == nil {
			err = env.Errorf("starting imagelab's image policy webhook again: %w", uerr)
		}
	}()
	image := fmt.Sprintf("%s:fail-closed-%d", env.Registry.Repo("apps/internal-app"), time.Now().UnixNano())
	switch err := dryRunPod(ctx, env, image); {
	case err == nil:
		try := env.T("In the AdmissionConfiguration, set defaultAllow: false under imagePolicy; the API server reads it only when it starts, so the kubelet must restart it (touch the manifest, or change it).")
		if setup.defaultAllow != nil && !*setup.defaultAllow {
			try = env.T("The configuration on the node says defaultAllow: false, but the running API server admits: it has not read it since. Change the manifest (any edit) so the kubelet restarts the API server.")
		}
		return &Finding{Code: "image-policy-fails-open", Criterion: "fails-closed",
			Problem:  env.T("With the backend down, the API server admitted a new pod: the webhook fails open (defaultAllow: true), so any image gets in while the backend is away."),
			Expected: env.T("with the backend down, every new pod refused"), Try: try}, nil
	case isRefusal(err):
		return nil, nil
	default:
		return nil, env.Errorf("submitting a dry-run pod: %w", err)
	}
}

// dryRunPod submits a pod with image, as a server-side dry run: admission
// runs in full, nothing is created.
func dryRunPod(ctx context.Context, env *Env, image string) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "imagelab-probe-", Namespace: env.Namespace},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: image}}},
	}
	_, err := env.Kube.CoreV1().Pods(env.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

func isRefusal(err error) bool {
	var refused interface{ Status() metav1.Status }
	return errors.As(err, &refused)
}

// isBackendDenial: the backend answered no. The API server's words
// (k8s.io/kubernetes plugin/pkg/admission/imagepolicy).
func isBackendDenial(err error) bool {
	return isRefusal(err) && strings.Contains(err.Error(), "image policy webhook backend denied one or more images")
}

// mentionsBackend: the API server could not get an answer from the
// backend (it names the URL it posted to).
func mentionsBackend(err error, env *Env) bool {
	return isRefusal(err) && strings.Contains(err.Error(), "Post \"https://") && strings.Contains(err.Error(), "imagereview")
}

func unreachableBackend(env *Env, err error, criterion string) Finding {
	kc := path.Join(env.Node.Files().ImagePolicy, PolicyKubeconfig)
	try := env.T("The plugin is on, but the API server cannot talk to the backend. Use the kubeconfig imagelab put at %s as it is (its server is %s), and mount %s into the API server's pod.",
		kc, env.PolicyBackend.URL(), env.Node.Files().ImagePolicy)
	if strings.Contains(err.Error(), "x509") || strings.Contains(err.Error(), "certificate") {
		try = env.T("The API server does not trust the backend's certificate, or presents none it accepts: its kubeconfig must be %s, with the certificate-authority, client-certificate and client-key beside it.", kc)
	}
	return Finding{Code: "image-policy-backend-unreachable", Criterion: criterion,
		Problem:  env.T("The API server refused the pod because it could not get an answer from the image policy webhook."),
		Expected: env.T("an answer from imagelab's backend at %s", env.PolicyBackend.URL()), Try: try, Evidence: err.Error()}
}

// webhookSetup is what the API server's manifest and admission
// configuration say, read only to explain a plugin that is not consulted.
type webhookSetup struct {
	manifestErr   error
	pluginEnabled bool
	configFile    string // --admission-control-config-file
	configMounted bool   // a hostPath volume covers it
	configErr     error  // reading or parsing it
	hasPlugin     bool   // its plugins list names ImagePolicyWebhook
	defaultAllow  *bool
}

func readWebhookSetup(ctx context.Context, env *Env) webhookSetup {
	var s webhookSetup
	data, err := env.Node.ReadFile(ctx, env.Node.Files().APIServerManifest)
	if err != nil {
		s.manifestErr = err
		return s
	}
	var pod corev1.Pod
	if err := yaml.Unmarshal(data, &pod); err != nil || len(pod.Spec.Containers) == 0 {
		s.manifestErr = fmt.Errorf("the manifest does not parse as a pod: %v", err)
		return s
	}
	c := pod.Spec.Containers[0]
	for _, arg := range append(append([]string(nil), c.Command...), c.Args...) {
		if v, ok := strings.CutPrefix(arg, "--enable-admission-plugins="); ok {
			s.pluginEnabled = slices.Contains(strings.Split(v, ","), "ImagePolicyWebhook")
		}
		if v, ok := strings.CutPrefix(arg, "--admission-control-config-file="); ok {
			s.configFile = v
		}
	}
	if s.configFile == "" {
		return s
	}
	for _, m := range c.VolumeMounts {
		if s.configFile == m.MountPath || strings.HasPrefix(s.configFile, strings.TrimSuffix(m.MountPath, "/")+"/") {
			s.configMounted = true
		}
	}
	cfg, err := env.Node.ReadFile(ctx, s.configFile)
	if err != nil {
		s.configErr = err
		return s
	}
	var ac struct {
		Plugins []struct {
			Name          string         `json:"name"`
			Path          string         `json:"path"`
			Configuration map[string]any `json:"configuration"`
		} `json:"plugins"`
	}
	if err := yaml.Unmarshal(cfg, &ac); err != nil {
		s.configErr = err
		return s
	}
	for _, p := range ac.Plugins {
		if p.Name != "ImagePolicyWebhook" {
			continue
		}
		s.hasPlugin = true
		conf := p.Configuration
		if p.Path != "" {
			pp := p.Path
			if !path.IsAbs(pp) {
				pp = path.Join(path.Dir(s.configFile), pp)
			}
			if b, err := env.Node.ReadFile(ctx, pp); err == nil {
				_ = yaml.Unmarshal(b, &conf)
			}
		}
		if ip, ok := conf["imagePolicy"].(map[string]any); ok {
			if v, ok := ip["defaultAllow"].(bool); ok {
				s.defaultAllow = &v
			}
		}
	}
	return s
}

// notConsulted explains an outside image that was admitted: the plugin is
// not on, and the manifest says what is missing.
func (s webhookSetup) notConsulted(env *Env) Finding {
	f := env.Node.Files()
	dir := f.ImagePolicy
	var missing []string
	switch {
	case s.manifestErr != nil:
	default:
		if !s.pluginEnabled {
			missing = append(missing, env.T("ImagePolicyWebhook is not in --enable-admission-plugins"))
		}
		switch {
		case s.configFile == "":
			missing = append(missing, env.T("there is no --admission-control-config-file flag"))
		case s.configErr != nil:
			missing = append(missing, env.T("the file %s it names cannot be read on the node: %v", s.configFile, s.configErr))
		case !s.hasPlugin:
			missing = append(missing, env.T("%s has no ImagePolicyWebhook entry under plugins", s.configFile))
		case !s.configMounted:
			missing = append(missing, env.T("no volumeMount brings %s into the API server's container", s.configFile))
		}
	}
	problem := env.T("A pod with the image %s was admitted: the API server does not ask the image policy webhook.", outsideProbeImage)
	if len(missing) > 0 {
		problem += env.T(" In %s: %s.", f.APIServerManifest, strings.Join(missing, "; "))
	} else if s.manifestErr == nil {
		problem += env.T(" The manifest looks complete: has the kubelet restarted the API server since?")
	}
	return Finding{Code: "image-policy-webhook-off", Criterion: "outside-refused", Problem: problem,
		Expected: "image policy webhook backend denied one or more images: …",
		Try: env.T("Write an AdmissionConfiguration with the ImagePolicyWebhook plugin (kubeConfigFile: %s, defaultAllow: false) in %s, "+
			"name it with --admission-control-config-file, add ImagePolicyWebhook to --enable-admission-plugins, and mount %s into the API server's pod (a hostPath volume and a volumeMount).",
			path.Join(dir, PolicyKubeconfig), dir, dir)}
}
