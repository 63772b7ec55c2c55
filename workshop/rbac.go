package workshop

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// verbsAll is every verb on an object of the attendee's own (no
// escalate, bind or impersonate: those are not verbs of these resources).
var verbsAll = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// AttendeeRules are what an attendee may do, in their own namespace only
// (a Role, never a ClusterRole): what the lessons make and read, and
// nothing cluster-scoped.
//
//   - pods: lessons 3, 4, 5, 7 and 8 create, replace and delete pods
//     (kubectl run, apply, delete); pods/log for the troubleshooting lesson.
//   - secrets: the regcred pull secrets (lessons 3, 5, 7, 8).
//   - serviceaccounts: lesson 4 makes one and patches its imagePullSecrets.
//   - deployments, replicasets: the mistakes lessons 3 and 6 make with
//     Deployments, and kubectl's dry runs on them.
//   - events: read only; the kubelet's verdict on a pull.
//   - configmaps: the mirrored progress (imagelab-progress), written by
//     the attendee's own imagelab.
//   - resourcequotas, limitranges: read only, so kubectl describe shows
//     the attendee their limits.
//
// Not granted: pods/exec and pods/attach (no lesson needs them),
// serviceaccounts/token (no minting tokens), roles and bindings, and
// anything outside the namespace.
var AttendeeRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: verbsAll},
	{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get", "list"}},
	{APIGroups: []string{""}, Resources: []string{"secrets", "serviceaccounts", "configmaps"}, Verbs: verbsAll},
	{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets"}, Verbs: verbsAll},
	{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{""}, Resources: []string{"resourcequotas", "limitranges"}, Verbs: []string{"get", "list", "watch"}},
}

// PodSecurityLevel is what an attendee's namespace enforces: baseline.
//
// restricted would refuse the lessons' own pods: kubectl run makes a pod
// with no securityContext, and restricted requires runAsNonRoot,
// allowPrivilegeEscalation: false, capabilities dropped and a seccomp
// profile on every container (TestIntegrationPodSecurity shows which
// lesson pods each level refuses). baseline refuses what would reach
// the node (privileged containers, host namespaces and paths, added
// capabilities beyond the default set) — what keeps one attendee from
// another on a shared cluster — and admits the lessons' pods, but for
// the hardening step's starting pod, which is privileged on purpose.
// restricted is audited, so the instructor can see what would not pass.
const PodSecurityLevel = "baseline"

// podSecurityLabels are the namespace's Pod Security labels
// (k8s.io/pod-security-admission/api's).
func podSecurityLabels() map[string]string {
	const pss = "pod-security.kubernetes.io/"
	return map[string]string{
		pss + "enforce":         PodSecurityLevel,
		pss + "enforce-version": "latest",
		pss + "audit":           "restricted",
		pss + "audit-version":   "latest",
	}
}

// quotaSpec bounds what an attendee may run: enough for every lesson at
// once (the supply-chain lesson runs the most: five pods), little enough
// that one runaway loop does not starve the room.
func quotaSpec() corev1.ResourceQuotaSpec {
	return corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
		corev1.ResourcePods:                   resource.MustParse("20"),
		corev1.ResourceRequestsCPU:            resource.MustParse("2"),
		corev1.ResourceRequestsMemory:         resource.MustParse("2Gi"),
		corev1.ResourceLimitsCPU:              resource.MustParse("4"),
		corev1.ResourceLimitsMemory:           resource.MustParse("4Gi"),
		corev1.ResourceSecrets:                resource.MustParse("50"),
		corev1.ResourceConfigMaps:             resource.MustParse("20"),
		corev1.ResourceServices:               resource.MustParse("5"),
		corev1.ResourcePersistentVolumeClaims: resource.MustParse("0"),
		"count/serviceaccounts":               resource.MustParse("20"),
		"count/deployments.apps":              resource.MustParse("10"),
		"count/replicasets.apps":              resource.MustParse("30"),
	}}
}

// limitRangeSpec gives the lessons' pods, which set no resources, a
// request and a limit (the quota requires both), and caps a container.
func limitRangeSpec() corev1.LimitRangeSpec {
	return corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:           corev1.LimitTypeContainer,
		Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
	}}}
}
