package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ConfigError is a problem in a configuration file, flag or environment
// variable: where it is, which key, and what was expected.
type ConfigError struct {
	// Source is the file name, "flag" or "environment".
	Source string
	// Line is the line in Source, zero when it has none.
	Line int
	// Key is the dotted key, e.g. "mqtt.mode".
	Key string
	// Msg says what was wrong or expected.
	Msg string
}

// Error formats the problem as file:line: key: message.
func (e *ConfigError) Error() string {
	loc := e.Source
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.Source, e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
}

var durationType = reflect.TypeFor[time.Duration]()

// decodeYAML fills dst (a pointer to a struct with yaml tags) from the YAML
// document in data, refusing unknown keys and values of the wrong type with
// a ConfigError naming the file, line and key.
func decodeYAML(file string, data []byte, dst any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml.v3 says "yaml: line N: ..." for syntax errors.
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
			msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		}
		return &ConfigError{Source: file, Line: line, Msg: "invalid YAML: " + msg}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // an empty file means all defaults
	}
	return decodeNode(file, doc.Content[0], reflect.ValueOf(dst).Elem(), "")
}

func decodeNode(file string, n *yaml.Node, v reflect.Value, key string) error {
	fail := func(msg string) error { return &ConfigError{Source: file, Line: n.Line, Key: key, Msg: msg} }
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case v.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fail("expected a mapping of keys (" + strings.Join(structKeys(v.Type()), ", ") + ")")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			f, ok := fieldByTag(v, kn.Value)
			sub := joinKey(key, kn.Value)
			if !ok {
				return &ConfigError{Source: file, Line: kn.Line, Key: sub,
					Msg: "unknown key; expected one of " + strings.Join(structKeys(v.Type()), ", ")}
			}
			if err := decodeNode(file, vn, f, sub); err != nil {
				return err
			}
		}
		return nil
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			return fail("expected a list")
		}
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, en := range n.Content {
			if err := decodeNode(file, en, out.Index(i), fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
		}
		v.Set(out)
		return nil
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		return fail("expected " + describe(v.Type()) + ", got " + fmt.Sprintf("%q", n.Value))
	}
	return nil
}

// describe names what a value of t looks like in the file.
func describe(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as 30s, 5m or 168h"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list of " + describe(t.Elem())
	case t.Kind() == reflect.Map:
		return "a mapping"
	}
	return t.String()
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func tagName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "" || tag == "-" {
		return ""
	}
	return tag
}

func fieldByTag(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if tagName(t.Field(i)) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func structKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if n := tagName(t.Field(i)); n != "" {
			keys = append(keys, n)
		}
	}
	sort.Strings(keys)
	return keys
}

// leaf is one scalar configuration key that a flag or variable can set.
type leaf struct {
	key string
	v   reflect.Value
}

// leaves lists the scalar keys of the struct v points to, in dotted form.
func leaves(v reflect.Value, prefix string) []leaf {
	var out []leaf
	t := v.Type()
	for i := range t.NumField() {
		name := tagName(t.Field(i))
		if name == "" {
			continue
		}
		f := v.Field(i)
		key := joinKey(prefix, name)
		switch {
		case f.Kind() == reflect.Struct:
			out = append(out, leaves(f, key)...)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct, f.Kind() == reflect.Map:
			// lists of rules and mappings are set in the file only
		default:
			out = append(out, leaf{key, f})
		}
	}
	return out
}

// envName is the environment variable that overrides key.
func envName(key string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "GATEWAYD_" + strings.ToUpper(r.Replace(key))
}

// setLeaf parses s as the YAML scalar for l.
func setLeaf(source string, l leaf, s string) error {
	if l.v.Kind() == reflect.String {
		// A string key takes the text as it is, so "on" stays "on".
		l.v.SetString(s)
		return nil
	}
	ptr := reflect.New(l.v.Type())
	if err := yaml.Unmarshal([]byte(s), ptr.Interface()); err != nil || strings.TrimSpace(s) == "" {
		return &ConfigError{Source: source, Key: l.key, Msg: "expected " + describe(l.v.Type()) + ", got " + fmt.Sprintf("%q", s)}
	}
	l.v.Set(ptr.Elem())
	return nil
}

// applyEnv applies every GATEWAYD_* variable of environ that names a key.
// It returns the names of the other GATEWAYD_* variables (test switches,
// or a misspelt key) for the caller to warn about.
func applyEnv(cfg any, environ []string, reserved map[string]bool) (unknown []string, err error) {
	byEnv := map[string]leaf{}
	for _, l := range leaves(reflect.ValueOf(cfg).Elem(), "") {
		byEnv[envName(l.key)] = l
	}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "GATEWAYD_") || reserved[name] {
			continue
		}
		l, ok := byEnv[name]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		if err := setLeaf("environment "+name, l, val); err != nil {
			return unknown, err
		}
	}
	return unknown, nil
}

// configFlag sets one key from the command line.
type configFlag struct {
	l   leaf
	err *error
}

func (f configFlag) String() string {
	if !f.l.v.IsValid() {
		return ""
	}
	return fmt.Sprint(f.l.v.Interface())
}

func (f configFlag) Set(s string) error { return setLeaf("flag -"+flagName(f.l.key), f.l, s) }

// IsBoolFlag lets a boolean key be set by its bare flag (-auth.enabled).
func (f configFlag) IsBoolFlag() bool { return f.l.v.IsValid() && f.l.v.Kind() == reflect.Bool }

// flagName is the flag of a key: dashes for underscores, as flags are
// usually spelled (-data-dir for data_dir, -mqtt.rate-limit).
func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// addFlags registers a -<key> flag for every scalar key of cfg.
func addFlags(fs *flag.FlagSet, cfg any) {
	for _, l := range leaves(reflect.ValueOf(cfg).Elem(), "") {
		if fs.Lookup(flagName(l.key)) != nil {
			continue
		}
		fs.Var(configFlag{l: l}, flagName(l.key), "sets the configuration key "+l.key+" (or "+envName(l.key)+")")
	}
}

// loadFile reads and decodes the file at path into cfg. A missing file is
// an error only when required.
func loadFile(path string, cfg any, required bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !required {
		return nil
	}
	if err != nil {
		return &ConfigError{Source: path, Msg: err.Error()}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from a Windows editor
	return decodeYAML(path, data, cfg)
}
