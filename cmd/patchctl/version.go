package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/patchlet/patchlet/client"
	"github.com/patchlet/patchlet/internal/version"
)

const versionLong = `Print the version of patchctl and of the agent it talks to (from the
agent's /version endpoint). With --client, only patchctl's; nothing is sent.`

const versionExamples = `  patchctl version
  patchctl version --client`

func newVersionCommand(g *globalOptions, s streams) *cobra.Command {
	var clientOnly bool
	var output string
	cmd := newCommand(usage{"version", "Print the client and server versions", versionLong, versionExamples},
		noArgs, func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return usagef("version: unsupported output format %q (want json or yaml)", output)
			}
			clientVersion := map[string]string{
				"gitVersion": version.Version,
				"goVersion":  runtime.Version(),
				"platform":   runtime.GOOS + "/" + runtime.GOARCH,
			}
			doc := map[string]any{"clientVersion": clientVersion}
			if output == "" {
				fmt.Fprintf(s.out, "Client Version: %s\n", version.Version)
			}
			if clientOnly {
				if output != "" {
					return printObject(s.out, doc, output)
				}
				return nil
			}
			return g.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				info, err := c.ServerVersion(ctx)
				if err != nil {
					return err
				}
				if output != "" {
					doc["serverVersion"] = info
					return printObject(s.out, doc, output)
				}
				fmt.Fprintf(s.out, "Server Version: %s\n", info.GitVersion)
				return nil
			})
		})
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only the client version")
	addOutputFlag(cmd.Flags(), &output, "json, yaml")
	return cmd
}
