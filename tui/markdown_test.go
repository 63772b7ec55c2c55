package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/imagelab/imagelab/internal/i18n"
	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
	"github.com/imagelab/imagelab/sandbox"
)

// A control-plane step's reference solution says what to do on the node
// (and to restart the kubelet when it must), in the learner's language.
func TestNodeSolutionIsShown(t *testing.T) {
	v := lessons.Placeholder()
	for _, tc := range []struct {
		lang i18n.Lang
		ref  string
		want []string
	}{
		{i18n.English, "supply-chain/always-pull-images", []string{"On the node, as root", "AlwaysPullImages/' " + v.APIServerManifest}},
		{i18n.English, "supply-chain/kubelet-credential-check", []string{"AlwaysVerify", "systemctl restart kubelet"}},
		{i18n.Korean, "supply-chain/image-policy-webhook", []string{"노드에서 root로", "참고 답안", "defaultAllow: false"}},
	} {
		cur, err := lessons.DefaultIn(tc.lang)
		if err != nil {
			t.Fatal(err)
		}
		s, err := cur.Find(tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		md := stepMarkdown(i18n.For(tc.lang), s, v, 0, true)
		for _, w := range tc.want {
			if !strings.Contains(md, w) {
				t.Errorf("%s (%s): the solution lacks %q:\n%s", tc.ref, tc.lang, w, md[strings.LastIndex(md, "---"):])
			}
		}
	}
}

// Why a step is unavailable, said in the learner's language.
func TestUnavailableReason(t *testing.T) {
	err := fmt.Errorf("%w: %s", check.ErrUnavailable, sandbox.ErrNoNode.Error())
	if got := UnavailableReason(i18n.For(i18n.English), err); got != sandbox.ErrNoNode.Error() {
		t.Errorf("English: %q", got)
	}
	got := UnavailableReason(i18n.For(i18n.Korean), err)
	if strings.Contains(got, "imagelab did not make") || !strings.Contains(got, "샌드박스") {
		t.Errorf("Korean: %q", got)
	}
}
