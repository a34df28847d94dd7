package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/patchlet/patchlet/audit"
)

// defaultAuditDir is the audit directory under the agent's default --state-dir.
const defaultAuditDir = "/var/lib/patchlet/audit"

const auditLong = `Work with the agent's audit log: every change accepted over the API and
every package-manager step, as hash-chained JSON lines under the state
directory (<state-dir>/audit). The log is read from the local disk; nothing
is sent to the agent.`

const auditVerifyLong = `Check the audit log: every record's own hash, the sequence numbers without
gaps, every link to the previous record (across rotated files), and that the
log still begins and ends where the agent's audit.head says. Prints OK and a
summary, or the file, line and record where the chain breaks (an edited,
deleted, reordered or cut-off record, or a deleted file) and exits 1.`

const auditVerifyExamples = `  sudo patchctl audit verify
  patchctl audit verify --dir /srv/backup/patchlet-audit`

func newAuditCommand(s streams) *cobra.Command {
	cmd := newCommand(usage{"audit", "Verify the agent's audit log", auditLong, ""},
		noArgs, func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		})
	var dir string
	verify := newCommand(usage{"verify [--dir DIR]", "Check the hash chain of the audit log and say where it breaks", auditVerifyLong, auditVerifyExamples},
		noArgs, func(cmd *cobra.Command, args []string) error {
			sum, err := audit.VerifyDir(dir)
			var ve *audit.VerifyError
			if errors.As(err, &ve) {
				return fmt.Errorf("audit log %s is broken at %w", dir, err)
			}
			if err != nil {
				return fmt.Errorf("audit log %s: %w", dir, err)
			}
			if sum.Records == 0 {
				fmt.Fprintf(s.out, "OK: %s holds no records\n", dir)
				return nil
			}
			fmt.Fprintf(s.out, "OK: %d records (%d to %d) in %d files\n", sum.Records, sum.First, sum.Last, sum.Files)
			return nil
		})
	verify.Flags().StringVar(&dir, "dir", defaultAuditDir, "the audit directory (<state-dir>/audit)")
	cmd.AddCommand(verify)
	return cmd
}
