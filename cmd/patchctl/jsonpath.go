package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"k8s.io/client-go/util/jsonpath"
)

// parseJSONPath parses a kubectl-style JSONPath template ("{.status.phase}",
// with or without the braces).
func parseJSONPath(tmpl string) (*jsonpath.JSONPath, error) {
	t := strings.TrimSpace(tmpl)
	if t != "" && !strings.Contains(t, "{") {
		t = "{" + t + "}"
	}
	jp := jsonpath.New("out").AllowMissingKeys(true)
	if err := jp.Parse(t); err != nil {
		return nil, fmt.Errorf("parsing JSONPath %q: %w", tmpl, err)
	}
	return jp, nil
}

// toUnstructured turns a typed object into the generic JSON form JSONPath
// walks, so that paths use the JSON field names.
func toUnstructured(obj any) (any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding object: %w", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding object: %w", err)
	}
	return out, nil
}

// printJSONPath executes a template against obj.
func printJSONPath(w io.Writer, jp *jsonpath.JSONPath, obj any) error {
	u, err := toUnstructured(obj)
	if err != nil {
		return err
	}
	if err := jp.Execute(w, u); err != nil {
		return fmt.Errorf("executing JSONPath: %w", err)
	}
	return nil
}

// jsonPathValue renders what a template finds in obj, as -o jsonpath
// would print it.
func jsonPathValue(jp *jsonpath.JSONPath, obj any) (string, bool, error) {
	u, err := toUnstructured(obj)
	if err != nil {
		return "", false, err
	}
	results, err := jp.FindResults(u)
	if err != nil {
		return "", false, err
	}
	found := false
	for _, r := range results {
		if len(r) > 0 {
			found = true
		}
	}
	if !found {
		return "", false, nil
	}
	var b bytes.Buffer
	for _, r := range results {
		if err := jp.PrintResults(&b, r); err != nil {
			return "", false, err
		}
	}
	return b.String(), true, nil
}
