package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/jsonpath"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/client"
)

const waitLong = `Wait until an object meets a condition, like kubectl wait.

--for=condition=TYPE waits until the object's condition TYPE has status
True; --for=condition=TYPE=False (or =Unknown) waits for that status
instead. As with kubectl, a condition only counts once the agent has seen
the object's current spec: status.observedGeneration, and the condition's own
observedGeneration when it has one, must be at least metadata.generation.
So "apply, then wait" never succeeds on the status of the previous spec.

--for=jsonpath='{.status.phase}'=Succeeded waits until a kubectl JSONPath
expression renders exactly VALUE (no generation check): the way to wait
for an Operation, which has a phase rather than conditions.

--for=delete waits until the object is gone.

The object is read once and then watched, so the wait ends as soon as the
condition is met. patchctl exits 0 when it is met and 1 when --timeout runs
out (or the object does not exist, or is deleted while waiting for a
condition), saying what state the condition was in. --timeout=0 checks once
without waiting.`

const waitExamples = `  # Apply a policy and wait until the host complies
  patchctl apply -f web-security.yaml
  patchctl wait patchpolicy/web-security --for=condition=Ready --timeout=10m

  # Wait until a reboot is no longer required
  patchctl wait host web-1 --for=condition=RebootRequired=False

  # Wait until a step has finished successfully
  patchctl wait op/op-7f3a --for=jsonpath='{.status.phase}'=Succeeded

  # Wait until a policy is deleted
  patchctl wait pp old-policy --for=delete`

type waitOptions struct {
	forSpec string
	timeout time.Duration
}

// waitFor is a parsed --for.
type waitFor struct {
	delete   bool
	condType string
	status   string
	// jsonPath (with jsonExpr, its text) is compared with jsonValue.
	jsonPath  *jsonpath.JSONPath
	jsonExpr  string
	jsonValue string
}

// describe names what is waited for, for messages.
func (w waitFor) describe() string {
	if w.jsonPath != nil {
		return w.jsonExpr + "=" + w.jsonValue
	}
	return "condition " + w.condType
}

func parseWaitFor(s string) (waitFor, error) {
	if strings.EqualFold(s, "delete") {
		return waitFor{delete: true}, nil
	}
	if expr, ok := strings.CutPrefix(s, "jsonpath="); ok {
		var value string
		if i := strings.LastIndex(expr, "}"); i >= 0 {
			rest := expr[i+1:]
			if !strings.HasPrefix(rest, "=") {
				return waitFor{}, fmt.Errorf("--for=%q: want jsonpath={.path}=VALUE", s)
			}
			expr, value = expr[:i+1], rest[1:]
		} else {
			var found bool
			if expr, value, found = strings.Cut(expr, "="); !found {
				return waitFor{}, fmt.Errorf("--for=%q: want jsonpath={.path}=VALUE", s)
			}
		}
		jp, err := parseJSONPath(expr)
		if err != nil {
			return waitFor{}, fmt.Errorf("--for=%q: %w", s, err)
		}
		return waitFor{jsonPath: jp, jsonExpr: expr, jsonValue: value}, nil
	}
	rest, ok := strings.CutPrefix(s, "condition=")
	if !ok || rest == "" {
		return waitFor{}, fmt.Errorf("--for=%q: want condition=TYPE[=STATUS], jsonpath={.path}=VALUE or delete", s)
	}
	typ, status, hasStatus := strings.Cut(rest, "=")
	if !hasStatus {
		status = string(metav1.ConditionTrue)
	}
	switch strings.ToLower(status) {
	case "true":
		status = string(metav1.ConditionTrue)
	case "false":
		status = string(metav1.ConditionFalse)
	case "unknown":
		status = string(metav1.ConditionUnknown)
	default:
		return waitFor{}, fmt.Errorf("--for=%q: condition status must be True, False or Unknown", s)
	}
	if typ == "" {
		return waitFor{}, fmt.Errorf("--for=%q: empty condition type", s)
	}
	return waitFor{condType: typ, status: status}, nil
}

func newWaitCommand(g *globalOptions, s streams) *cobra.Command {
	o := &waitOptions{}
	cmd := newCommand(usage{"wait KIND/NAME | KIND NAME --for=condition=TYPE[=STATUS] | --for=jsonpath={.path}=VALUE | --for=delete", "Wait until an object meets a condition", waitLong, waitExamples},
		rangeArgs(1, 2, "KIND/NAME to wait for"), func(cmd *cobra.Command, args []string) error {
			_, refs, err := parseRefs(args, true)
			if err != nil {
				return err
			}
			if len(refs) != 1 {
				return usagef("wait: give exactly one object")
			}
			if o.forSpec == "" {
				return usagef("wait: missing --for=condition=TYPE[=STATUS] or --for=delete")
			}
			cond, err := parseWaitFor(o.forSpec)
			if err != nil {
				return usageError{err}
			}
			return g.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				return runWait(ctx, c, s, refs[0], cond, o.timeout)
			})
		})
	cmd.Flags().StringVar(&o.forSpec, "for", "", "condition=TYPE[=True|False|Unknown], jsonpath={.path}=VALUE, or delete")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 60*time.Second, "give up after this long (0: check once; negative: a week)")
	return cmd
}

// conditionState says whether obj meets cond and, either way, describes
// the condition's state for people.
func conditionState(obj v1alpha1.Object, cond waitFor) (bool, string) {
	if cond.jsonPath != nil {
		v, found, err := jsonPathValue(cond.jsonPath, obj)
		switch {
		case err != nil:
			return false, fmt.Sprintf("%s: %v", cond.jsonExpr, err)
		case !found:
			return false, cond.jsonExpr + " is not set"
		}
		return v == cond.jsonValue, fmt.Sprintf("%s is %q", cond.jsonExpr, v)
	}
	var conds []metav1.Condition
	observed, hasObserved := int64(0), false
	switch o := obj.(type) {
	case *v1alpha1.PatchPolicy:
		conds, observed, hasObserved = o.Status.Conditions, o.Status.ObservedGeneration, true
	case *v1alpha1.Host:
		conds = o.Status.Conditions
	case *v1alpha1.Operation:
		return false, fmt.Sprintf("operations have no conditions (phase is %s)", orNone(string(o.Status.Phase)))
	}
	gen := obj.GetGeneration()
	if hasObserved && observed < gen {
		return false, fmt.Sprintf("status.observedGeneration is %d, metadata.generation %d: the agent has not yet acted on the current spec", observed, gen)
	}
	var c *metav1.Condition
	for i := range conds {
		if strings.EqualFold(conds[i].Type, cond.condType) {
			c = &conds[i]
			break
		}
	}
	if c == nil {
		return false, fmt.Sprintf("condition %s not reported yet", cond.condType)
	}
	state := fmt.Sprintf("%s=%s", c.Type, c.Status)
	if c.Reason != "" {
		state += " (" + c.Reason
		if c.Message != "" {
			state += ": " + oneLine(c.Message)
		}
		state += ")"
	}
	if c.ObservedGeneration != 0 && c.ObservedGeneration < gen {
		return false, state + fmt.Sprintf(", observed at generation %d, metadata.generation %d", c.ObservedGeneration, gen)
	}
	return string(c.Status) == cond.status, state
}

func runWait(ctx context.Context, c *client.Client, s streams, r ref, cond waitFor, timeout time.Duration) error {
	res := resourceOf(c, r.kind)
	once := timeout == 0
	if timeout < 0 {
		timeout = 7 * 24 * time.Hour
	}
	if !once {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	sel := fields.OneTermEqualSelector("metadata.name", r.name).String()
	state := "not read yet"
	met := func() error {
		fmt.Fprintf(s.out, "%s condition met\n", r)
		return nil
	}
	timedOut := func() error {
		if cond.delete {
			return fmt.Errorf("timed out waiting for the deletion of %s", r)
		}
		return fmt.Errorf("timed out waiting for the condition on %s: %s", r, state)
	}
	// check evaluates one observation; done reports a final outcome.
	check := func(obj v1alpha1.Object, gone bool) (done bool, err error) {
		if gone {
			if cond.delete {
				return true, met()
			}
			return true, fmt.Errorf("%s was deleted while waiting for %s", r, cond.describe())
		}
		if cond.delete {
			state = "still exists"
			return false, nil
		}
		ok, st := conditionState(obj, cond)
		state = st
		if ok {
			return true, met()
		}
		return false, nil
	}
	first := true
	for {
		list, err := res.List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			if ctx.Err() != nil {
				return timedOut()
			}
			return err
		}
		obj, err := findNamed(list, r)
		if err != nil {
			return err
		}
		if obj == nil && first && !cond.delete {
			return apierrors.NewNotFound(r.kind.GroupResource(), r.name)
		}
		first = false
		if done, err := check(obj, obj == nil); done {
			return err
		}
		if once {
			return timedOut()
		}
		lm, err := meta.ListAccessor(list)
		if err != nil {
			return err
		}
		w, err := res.Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: lm.GetResourceVersion()})
		if err != nil {
			if ctx.Err() != nil {
				return timedOut()
			}
			return err
		}
		done, err := watchUntil(ctx, w, r, check)
		w.Stop()
		if done {
			return err
		}
		if ctx.Err() != nil {
			return timedOut()
		}
		// The stream ended (server closed it, or resourceVersion too old): list again.
	}
}

// watchUntil feeds events of the named object to check until it reports
// an outcome or the stream ends.
func watchUntil(ctx context.Context, w watch.Interface, r ref, check func(v1alpha1.Object, bool) (bool, error)) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			switch ev.Type {
			case watch.Error:
				return false, nil // list again
			case watch.Bookmark:
				continue
			}
			obj, ok := ev.Object.(v1alpha1.Object)
			if !ok || obj.GetName() != r.name {
				continue
			}
			if done, err := check(obj, ev.Type == watch.Deleted); done {
				return true, err
			}
		}
	}
}

// findNamed returns the object of a list called r.name, or nil.
func findNamed(list runtime.Object, r ref) (v1alpha1.Object, error) {
	objs, err := listObjects(list, r.kind.Kind)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.GetName() == r.name {
			return o, nil
		}
	}
	return nil, nil
}
