package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// fileFlags are the flags whose value is a path: the shell completes files
// for these and only these. Every other flag that takes a value completes
// its fixed list (completeValues) or nothing, never the names of the files
// in the current directory.
var fileFlags = map[string][]string{
	"file":           nil,
	"body-file":      nil,
	"eml":            {"eml", "txt"},
	"message":        {"eml", "txt"},
	"password-file":  nil,
	"dkim-key":       {"pem", "key"},
	"key":            {"pem", "key"},
	"cert":           {"pem", "crt"},
	"ca-file":        {"pem", "crt"},
	"cafile":         {"pem", "crt"},
	"attach":         nil,
	"sarif-baseline": {"sarif", "json"},
	"out":            nil,
	"output":         nil,
	"dir":            nil,
	"store":          nil,
	"tls-cert":       {"pem", "crt"},
	"tls-key":        {"pem", "key"},
	"targets":        nil,
	"suite":          {"yaml", "yml"},
	"config":         {"yaml", "yml"},
	"baseline":       {"sarif", "json"},
	"script":         {"mps", "txt"},
}

// completeFlagValues walks the command tree once it is built and gives
// every value-taking flag without a completion function one: file
// completion (filtered by extension where known) for the flags in
// fileFlags, no completion for the rest (host names, addresses, numbers and
// durations are the user's to type).
func completeFlagValues(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() == "bool" || f.Hidden {
				return
			}
			if _, ok := c.GetFlagCompletionFunc(f.Name); ok {
				return
			}
			if values, ok := f.Annotations[valuesAnnotation]; ok {
				_ = c.RegisterFlagCompletionFunc(f.Name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
					return values, cobra.ShellCompDirectiveNoFileComp
				})
				return
			}
			if exts, ok := fileFlags[f.Name]; ok || strings.HasSuffix(f.Name, "-file") {
				if len(exts) > 0 {
					_ = c.MarkFlagFilename(f.Name, exts...)
				} else {
					_ = c.MarkFlagFilename(f.Name)
				}
				return
			}
			_ = c.RegisterFlagCompletionFunc(f.Name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return nil, cobra.ShellCompDirectiveNoFileComp
			})
		})
		for _, sc := range c.Commands() {
			walk(sc)
		}
	}
	walk(root)
}
