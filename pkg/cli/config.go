package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Flag defaults from the environment and a config file.
//
// Precedence, highest first: the command line; MAILPROBE_<FLAG> (the flag's
// name in upper case, dashes as underscores: MAILPROBE_FAIL_ON,
// MAILPROBE_RESOLVER); the config file's section for the command ("smtp
// check:"); the config file's top level; the built-in default.
//
// The config file is --config FILE, else $MAILPROBE_CONFIG, else
// $XDG_CONFIG_HOME/mailprobe/config.yaml (~/.config/… when XDG_CONFIG_HOME
// is unset) when it exists. Its keys are flag names:
//
//	resolver: 127.0.0.1:53      # every command with a --resolver
//	fail-on: warn
//	smtp check:                 # only `mailprobe smtp check`
//	  tls: starttls
//	  user: ci@example.com
//	  password-env: SMTP_PASSWORD
//
// A password is never read from the file in plain text: `password` (and
// any *-password key) is refused with the keys to use instead
// (password-env, password-file).

// maxConfigSize bounds the config file (it is small by nature).
const maxConfigSize = 256 << 10

// notFromConfig are the flags a config file or MAILPROBE_* cannot set.
// --dry-run is one: a MAILPROBE_DRY_RUN left in a CI environment would
// make every suite run nothing and pass.
var notFromConfig = map[string]bool{"help": true, "version": true, "config": true, "dry-run": true}

// envName is the environment variable for a flag.
func envName(flag string) string {
	return "MAILPROBE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// plaintextSecret reports whether a config key would hold a password:
// the rule suites use for their lines (isSecretFlag), misspellings
// included.
func plaintextSecret(key string) bool {
	name := strings.ReplaceAll(strings.ToLower(key), "_", "-")
	// A -cmd flag names the program that prints a token (--oauth2-token-cmd):
	// a default worth keeping in the file. Its output is never shown and
	// the command line itself is still redacted in reports.
	return isSecretFlag("--"+name) && !strings.HasSuffix(name, "-cmd")
}

// secretSource is the flag that names where a secret is instead of
// holding it: password-env for password (or a misspelling of it),
// imap-password-env for imap-password, oauth2-token-env for
// oauth2-token; suffix is "-env" or "-file".
func secretSource(name, suffix string) string {
	if strings.HasSuffix(name, "password") || strings.HasSuffix(name, "token") {
		return name + suffix
	}
	return "password" + suffix
}

// config is a parsed config file.
type config struct {
	path     string
	global   map[string][]string
	sections map[string]map[string][]string // command path without "mailprobe " → flags
}

// loadConfig reads the config file for this run; a missing default file
// is no config, a missing --config file is a usage error.
func loadConfig(cmd *cobra.Command, env *Env) (*config, error) {
	path, explicit := "", false
	if f := cmd.Flags().Lookup("config"); f != nil && f.Changed {
		path, explicit = f.Value.String(), true
	} else if p := env.IO.Getenv("MAILPROBE_CONFIG"); p != "" {
		path, explicit = p, true
	} else if x := env.IO.Getenv("XDG_CONFIG_HOME"); x != "" {
		path = filepath.Join(x, "mailprobe", "config.yaml")
	} else if h := env.IO.Getenv("HOME"); h != "" {
		path = filepath.Join(h, ".config", "mailprobe", "config.yaml")
	}
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		if !explicit && os.IsNotExist(err) {
			return nil, nil
		}
		return nil, usageErrorf("config: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, usageErrorf("config %s: %v", path, err)
	}
	if len(b) > maxConfigSize {
		return nil, usageErrorf("config %s: larger than %d KiB", path, maxConfigSize>>10)
	}
	root := cmd.Root()
	if _, partial := root.Annotations[partialTree]; partial {
		// A config file names flags and sections of any command, and
		// this run (or batch line) built only its own: check it against
		// the whole tree, built once per process. The lock: cobra
		// creates flag sets lazily, so lookups write.
		wholeTreeMu.Lock()
		defer wholeTreeMu.Unlock()
		if wholeTree == nil {
			wholeTree = newRootCmd(env, false, "")
		}
		root = wholeTree
	}
	return parseConfig(path, b, root)
}

// partialTree marks a root built with one top-level command (its
// Annotations key; the value is the command).
const partialTree = "mailprobe.partial-tree"

var (
	wholeTreeMu sync.Mutex
	wholeTree   *cobra.Command
)

func parseConfig(path string, b []byte, root *cobra.Command) (*config, error) {
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, usageErrorf("config %s: %v", path, err)
	}
	c := &config{path: path, global: map[string][]string{}, sections: map[string]map[string][]string{}}
	known := allFlags(root)
	var problems []string
	flagValues := func(where string, n yaml.Node, key string, valid func(string) bool, into map[string][]string) {
		name := strings.ReplaceAll(strings.ToLower(key), "_", "-")
		switch {
		case plaintextSecret(name):
			problems = append(problems, fmt.Sprintf("line %d: %s%q: a password or token is never read from the config file; use %s (an environment variable's name) or %s",
				n.Line, where, key, secretSource(name, "-env"), secretSource(name, "-file")))
			return
		case notFromConfig[name] || !valid(name):
			msg := fmt.Sprintf("line %d: %sunknown flag %q", n.Line, where, key)
			if s := closest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			problems = append(problems, msg)
			return
		}
		var vals []string
		switch n.Kind {
		case yaml.ScalarNode:
			vals = []string{n.Value}
		case yaml.SequenceNode:
			for _, e := range n.Content {
				if e.Kind != yaml.ScalarNode {
					problems = append(problems, fmt.Sprintf("line %d: %s%q: a list of plain values", e.Line, where, key))
					return
				}
				vals = append(vals, e.Value)
			}
		default:
			problems = append(problems, fmt.Sprintf("line %d: %s%q: a value or a list of values", n.Line, where, key))
			return
		}
		into[name] = vals
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := doc[k]
		if n.Kind != yaml.MappingNode {
			flagValues("", n, k, func(name string) bool { return known[name] }, c.global)
			continue
		}
		sub, _, err := root.Find(strings.Fields(k))
		if err != nil || sub == root || strings.Join(strings.Fields(k), " ") != strings.TrimPrefix(sub.CommandPath(), root.Name()+" ") {
			problems = append(problems, fmt.Sprintf("line %d: %q is not a mailprobe command", n.Line, k))
			continue
		}
		sec := map[string][]string{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, *n.Content[i+1]
			flagValues(k+": ", val, key, func(name string) bool { return sub.Flags().Lookup(name) != nil }, sec)
		}
		c.sections[strings.Join(strings.Fields(k), " ")] = sec
	}
	if len(problems) > 0 {
		return nil, usageErrorf("config %s:\n  %s", path, strings.Join(problems, "\n  "))
	}
	return c, nil
}

// applyDefaults sets every flag the command line left alone from
// MAILPROBE_<FLAG> or the config file.
func applyDefaults(cmd *cobra.Command, env *Env) error {
	cfg, err := loadConfig(cmd, env)
	if err != nil {
		return err
	}
	section := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if firstErr != nil || f.Changed || f.Hidden || notFromConfig[f.Name] {
			return
		}
		var vals []string
		source := ""
		if v, ok := lookupEnv(env, envName(f.Name)); ok {
			vals, source = []string{v}, envName(f.Name)
		} else if cfg != nil {
			if v, ok := cfg.sections[section][f.Name]; ok {
				vals, source = v, cfg.path
			} else if v, ok := cfg.global[f.Name]; ok {
				vals, source = v, cfg.path
			}
		}
		for _, v := range vals {
			if err := cmd.Flags().Set(f.Name, v); err != nil {
				firstErr = usageErrorf("--%s from %s: %v", f.Name, source, err)
				return
			}
		}
	})
	return firstErr
}

func lookupEnv(env *Env, name string) (string, bool) {
	v := env.IO.Getenv(name)
	return v, v != ""
}

// allFlags is the set of flag names any command in the tree has.
func allFlags(root *cobra.Command) map[string]bool {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names[f.Name] = true
			}
		})
		for _, sc := range c.Commands() {
			walk(sc)
		}
	}
	walk(root)
	return names
}

// closest is the known name nearest to s (edit distance ≤ 2), or "".
func closest(s string, known map[string]bool) string {
	best, bestD := "", 3
	for k := range known {
		if d := editDistance(s, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
