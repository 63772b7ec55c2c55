// Package imagepolicy is the backend of the ImagePolicyWebhook lesson: an
// HTTPS server answering ImageReviews (imagepolicy.k8s.io/v1alpha1) that
// allows a pod only when every image comes from one registry, compared as
// a whole host[:port] (localhost:50010 is not localhost:5001; a short
// name like nginx is docker.io/library/nginx).
//
//	s, err := imagepolicy.New("localhost:5001", dir,
//		imagepolicy.WithHosts("127.0.0.1", "localhost", "imagelab-webhook"))
//	err = s.Start()                                         // CA and certificates into dir, then serve
//	err = s.WriteKubeconfig(kubeconfig, s.URL("127.0.0.1")) // the file imagePolicy.kubeConfigFile names
//	reviews := s.Reviews()                                  // what the API server asked, and the answers
//	err = s.Stop(ctx)
//
// Start makes a CA (its key never leaves memory), a serving certificate
// for the hosts, and a client certificate for the API server (CN
// kube-apiserver); the server requires that client certificate, so a
// recorded Review with Client "kube-apiserver" came through the
// kubeconfig. A stopped server starts again on the same address with the
// same certificates. A new Server (a new imagelab process) makes a new
// CA, which an API server that read the old one does not trust.
//
// # What the API server does (kube-apiserver v1.37.2, seen in the tests)
//
// Refused by the backend (status.reason is passed through verbatim):
//
//	pods "pod-4" is forbidden: image policy webhook backend denied one or more images: image "nginx" (docker.io/library/nginx) is from docker.io, not from the allowed registry localhost:5001
//
// Backend stopped, defaultAllow: false (refused at once — connection
// refused is not retried, whatever retryBackoff says):
//
//	pods "pod-12" is forbidden: Post "https://127.0.0.1:44029/imagereview?timeout=30s": dial tcp 127.0.0.1:44029: connect: connection refused
//
// Backend resetting connections: the plugin retries 5 times, waiting
// retryBackoff × 1, 1.5, 2.25, 3.375 (+ up to 20% jitter) between tries —
// 0.86–0.98 s with retryBackoff 100, 4.3–4.6 s with 500 — then:
//
//	pods "pod-14" is forbidden: Post "https://127.0.0.1:44029/imagereview?timeout=30s": read tcp 127.0.0.1:60510->127.0.0.1:44029: read: connection reset by peer
//
// (From the source, k8s.io/apiserver/pkg/util/webhook: also retried are
// HTTP 500, 504 and 429 answers; each try has a 30 s timeout.)
//
// A backend whose CA is not the kubeconfig's certificate-authority:
//
//	pods "pod-15" is forbidden: Post "https://127.0.0.1:42101/imagereview?timeout=30s": tls: failed to verify certificate: x509: certificate signed by unknown authority
//
// Surprises:
//   - The plugin caches answers per review spec (images, namespace,
//     image-policy annotations — not the pod's name) for allowTTL/denyTTL
//     seconds: the same pod again is not asked about, and a pod allowed
//     just before the backend stopped is still admitted for allowTTL.
//     Failures are not cached. The smallest TTL is 1; 0 means the default
//     (allowTTL 5 min, denyTTL 30 s), -1 turns caching off. allowTTL and
//     denyTTL are seconds, retryBackoff milliseconds.
//   - Init containers are in the same review as containers; a pod update
//     is reviewed again; kubectl debug's ephemeral containers get a review
//     of their own (only those images).
//   - The user agent is Go's default, "Go-http-client/1.1", not
//     kube-apiserver's.
//   - path: in the AdmissionConfiguration is resolved against the
//     AdmissionConfiguration file's directory; the kubeconfig's
//     certificate-authority and client-certificate against the
//     kubeconfig's directory.
//   - Dry-run creates go through the plugin like real ones.
//
// The API server does not start when the configuration is wrong; its last
// log line says why (seen with v1.37.2):
//
//	"command failed" err="failed to apply admission: couldn't init admission plugin \"ImagePolicyWebhook\": valid value is between 1s and 30m0s, got 1h0m0s"
//	"command failed" err="failed to apply admission: couldn't init admission plugin \"ImagePolicyWebhook\": stat /etc/kubernetes/imagepolicy/kubeconfig.yaml: no such file or directory"
//	"command failed" err="failed to apply admission: couldn't init admission plugin \"ImagePolicyWebhook\": invalid configuration: unable to read certificate-authority /…/ca.crt for b due to open /…/ca.crt: no such file or directory"
//	"command failed" err="failed to apply admission: couldn't init admission plugin \"ImagePolicyWebhook\": invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable"   (kubeconfig without current-context)
//	"command failed" err="failed to apply admission: couldn't init admission plugin \"ImagePolicyWebhook\": json: cannot unmarshal string into Go struct field imagePolicyWebhookConfig.imagePolicy.defaultAllow of type bool"
//	"command failed" err="failed to apply admission: failed to read plugin config: unable to read admission control configuration from \"/…/admission.yaml\" [open /…/admission.yaml: no such file or directory]"
//	F… config.go:145] Couldn't open admission plugin configuration /…/imagepolicy.yaml: &fs.PathError{Op:"open", Path:"/…/imagepolicy.yaml", Err:0x2}   (path: names a missing file; exit code 255)
package imagepolicy
