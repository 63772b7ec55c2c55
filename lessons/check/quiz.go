package check

import (
	"context"
	"slices"
	"strings"
)

func init() {
	Register(Definition{
		Name:     "quiz.choice",
		Params:   []string{"correct", "options"},
		Optional: []string{"explain-*"},
		Needs:    NeedsAnswer,
		Choice:   true,
		Criteria: []Criterion{{Name: "answer", Doc: "the right option"}},
		Run:      checkChoice,
	})
}

// checkChoice grades a multiple-choice answer; params explain-<option>
// say why an option is wrong (or right). A wrong pick is explained, and
// costs the learner a retry delay (the app's and the CLI's business: see
// progress.Store.Answer), so options can't be eliminated one by one.
func checkChoice(_ context.Context, env *Env, req Request) (Result, error) {
	options := strings.Split(req.Params["options"], ",")
	for i := range options {
		options[i] = strings.ToLower(strings.TrimSpace(options[i]))
	}
	correct := strings.ToLower(req.Params["correct"])
	answer := strings.ToLower(strings.Trim(strings.TrimSpace(req.Answer), "().) "))
	oneOf := env.T("one of %s", strings.Join(options, ", "))
	switch {
	case answer == "":
		return fail(Finding{Code: "answer-missing", Criterion: "answer", Problem: env.T("No answer yet."), Expected: oneOf,
			Try: env.T("Type the letter of your choice and press enter (or pass --answer).")}), nil
	case !slices.Contains(options, answer):
		return fail(Finding{Code: "answer-not-an-option", Criterion: "answer", Problem: env.T("%s is not one of the options.", quote(env, req.Answer)),
			Expected: oneOf, Try: env.T("Answer with the option's letter.")}), nil
	case answer != correct:
		problem := env.T("%s is not right.", answer)
		if why := req.Params["explain-"+answer]; why != "" {
			problem = env.T("%s is not right: %s", answer, why)
		}
		return fail(Finding{Code: "wrong-choice", Criterion: "answer", Problem: problem,
			Try: env.T("Read the step's text again with that in mind; the quiz takes another pick after a short wait.")}), nil
	}
	return result(req.Params["explain-"+correct]), nil
}

// Picked reports whether a choice quiz's result judged one of its options,
// right or wrong. An answer that is no option at all (a typo) is not a
// pick, and costs no retry delay.
func Picked(r Result) bool { return r.Passed || r.HasFinding("wrong-choice") }
