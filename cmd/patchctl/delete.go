package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/client"
)

const deleteLong = `Delete objects by name, or the objects a file describes, like kubectl delete.

Deleting a PatchPolicy stops its enforcement; packages it installed stay
installed. Hosts and Operations are written by the agent and cannot be
deleted over the API (the agent answers 405 and says why), nor can
policies that came from the drop directory (403: remove the file instead).

Prints 'patchpolicy "NAME" deleted' per object. A missing object is an
error (exit status 1) unless --ignore-not-found is given.`

const deleteExamples = `  # Delete one policy
  patchctl delete policy web-security

  # Delete the policies a file describes
  patchctl delete -f web-security.yaml

  # In a script that does not care whether it still exists
  patchctl delete pp/web-security --ignore-not-found`

type deleteOptions struct {
	files          []string
	recursive      bool
	ignoreNotFound bool
}

func newDeleteCommand(g *globalOptions, s streams) *cobra.Command {
	o := &deleteOptions{}
	cmd := newCommand(usage{"delete KIND NAME... | KIND/NAME... | -f FILENAME", "Delete objects by name or file", deleteLong, deleteExamples},
		nil, func(cmd *cobra.Command, args []string) error {
			var refs []ref
			switch {
			case len(o.files) > 0 && len(args) > 0:
				return usagef("delete: give names or -f, not both")
			case len(o.files) > 0:
				docs, problems, err := readDocuments(o.files, o.recursive, s.in, false)
				if err != nil {
					return err
				}
				if len(problems) > 0 {
					for _, p := range problems {
						fmt.Fprintf(s.errOut, "error: %s\n", p)
					}
					return reportedError{}
				}
				for _, d := range docs {
					k, _ := kindOf(d.obj.GetObjectKind().GroupVersionKind().Kind)
					refs = append(refs, ref{kind: k, name: d.obj.GetName()})
				}
			case len(args) == 0:
				return usagef("delete: missing KIND NAME, KIND/NAME or -f FILENAME")
			default:
				var err error
				if _, refs, err = parseRefs(args, true); err != nil {
					return err
				}
			}
			return g.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				return reported(eachRef(s, refs, func(r ref) error {
					err := resourceOf(c, r.kind).Delete(ctx, r.name, metav1.DeleteOptions{})
					if apierrors.IsNotFound(err) && o.ignoreNotFound {
						return nil
					}
					if err == nil {
						fmt.Fprintf(s.out, "%s %q deleted\n", r.kind.Singular, r.name)
					}
					return err
				}))
			})
		})
	cmd.Flags().StringArrayVarP(&o.files, "filename", "f", nil, "delete the objects this file, directory or - (standard input) describes; repeatable")
	cmd.Flags().BoolVarP(&o.recursive, "recursive", "R", false, "also read the subdirectories of a directory given with -f")
	cmd.Flags().BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "treat a missing object as deleted")
	return cmd
}
