package parser

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

var (
	bytesType     = reflect.TypeFor[[]byte]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshType = reflect.TypeFor[encoding.TextMarshaler]()
)

// MarshalArgs encodes values as a JSON array, replacing every non-nil []byte (at the
// top level, inside []any and map[string]any, and inside struct fields,
// slices and maps reached by reflection) with {"_placeholder":true,"num":k}
// in depth-first order (a nil []byte is null). It returns the JSON and the
// attachments. A nil or empty args gives "[]". json.RawMessage values are copied verbatim, and
// values implementing json.Marshaler are marshaled by their own method (so
// bytes inside them are not attachments).
func MarshalArgs(args ...any) (json.RawMessage, [][]byte, error) {
	if len(args) == 0 {
		return json.RawMessage("[]"), nil, nil
	}
	binary := false
	for _, a := range args {
		if hasBinary(reflect.ValueOf(a)) {
			binary = true
			break
		}
	}
	if !binary {
		// The common case: encoding/json does it all in one pass.
		b, err := json.Marshal(args)
		if err != nil {
			return nil, nil, fmt.Errorf("parser: marshal arguments: %w", err)
		}
		return b, nil, nil
	}
	e := argEncoder{buf: make([]byte, 0, 64)}
	e.buf = append(e.buf, '[')
	for i, a := range args {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.value(reflect.ValueOf(a)); err != nil {
			return nil, nil, err
		}
	}
	e.buf = append(e.buf, ']')
	return e.buf, e.att, nil
}

// hasBinary reports whether v holds a value that becomes an attachment. It
// walks only into types that may hold one.
func hasBinary(v reflect.Value) bool {
	if !v.IsValid() {
		return false
	}
	t := v.Type()
	if isBinary(t) {
		return !v.IsNil()
	}
	if !mayHoldBytes(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		return !v.IsNil() && hasBinary(v.Elem())
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if hasBinary(v.Index(i)) {
				return true
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if hasBinary(it.Value()) {
				return true
			}
		}
	case reflect.Struct:
		found := false
		eachField(v, func(_ string, f reflect.Value, _ bool) bool {
			found = hasBinary(f)
			return !found
		})
		return found
	}
	return false
}

type argEncoder struct {
	buf []byte
	att [][]byte
}

func (e *argEncoder) placeholder(b []byte) {
	e.buf = append(e.buf, `{"_placeholder":true,"num":`...)
	e.buf = strconv.AppendInt(e.buf, int64(len(e.att)), 10)
	e.buf = append(e.buf, '}')
	e.att = append(e.att, b)
}

func (e *argEncoder) plain(v reflect.Value) error {
	if !v.CanInterface() {
		// Reached through an unexported embedded struct: reflection may
		// read it but not hand it to encoding/json.
		return fmt.Errorf("parser: cannot marshal %s inside an unexported embedded struct that holds []byte", v.Type())
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return fmt.Errorf("parser: marshal argument: %w", err)
	}
	e.buf = append(e.buf, b...)
	return nil
}

func (e *argEncoder) value(v reflect.Value) error {
	if !v.IsValid() {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	t := v.Type()
	if isBinary(t) {
		if v.IsNil() {
			e.buf = append(e.buf, "null"...) // as encoding/json writes a nil []byte
			return nil
		}
		e.placeholder(v.Bytes())
		return nil
	}
	if !mayHoldBytes(t) {
		return e.plain(v)
	}
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.value(v.Elem())
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && v.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		e.buf = append(e.buf, '[')
		for i := range v.Len() {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(v.Index(i)); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
		return nil
	case reflect.Map:
		return e.mapValue(v)
	case reflect.Struct:
		return e.structValue(v)
	}
	return e.plain(v)
}

func (e *argEncoder) mapValue(v reflect.Value) error {
	if v.IsNil() {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	type kv struct {
		k string
		v reflect.Value
	}
	kvs := make([]kv, 0, v.Len())
	it := v.MapRange()
	for it.Next() {
		k := it.Key()
		var ks string
		switch k.Kind() {
		case reflect.String:
			ks = k.String()
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			ks = strconv.FormatInt(k.Int(), 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			ks = strconv.FormatUint(k.Uint(), 10)
		default:
			return fmt.Errorf("parser: unsupported map key type %s", k.Type())
		}
		kvs = append(kvs, kv{ks, it.Value()})
	}
	// encoding/json sorts map keys; do the same so output is deterministic.
	slices.SortFunc(kvs, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	e.buf = append(e.buf, '{')
	for i, p := range kvs {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		kb, _ := json.Marshal(p.k)
		e.buf = append(e.buf, kb...)
		e.buf = append(e.buf, ':')
		if err := e.value(p.v); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *argEncoder) structValue(v reflect.Value) error {
	e.buf = append(e.buf, '{')
	first := true
	var err error
	eachField(v, func(name string, f reflect.Value, omitEmpty bool) bool {
		if omitEmpty && isEmptyValue(f) {
			return true
		}
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		kb, _ := json.Marshal(name)
		e.buf = append(e.buf, kb...)
		e.buf = append(e.buf, ':')
		err = e.value(f)
		return err == nil
	})
	if err != nil {
		return err
	}
	e.buf = append(e.buf, '}')
	return nil
}

// eachField calls fn for the JSON-visible fields of struct v, honouring the
// json tag's name, "-" and omitempty, and inlining untagged embedded structs.
// It covers what struct arguments carrying []byte need; structs without
// bytes are left to encoding/json.
func eachField(v reflect.Value, fn func(name string, f reflect.Value, omitEmpty bool) bool) bool {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := v.Field(i)
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				if f.IsNil() {
					continue
				}
				f, ft = f.Elem(), ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if !eachField(f, fn) {
					return false
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if !fn(name, f, strings.Contains(","+opts+",", ",omitempty,")) {
			return false
		}
	}
	return true
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isBinary reports whether values of t travel as attachments: byte slices
// that do not marshal themselves (json.RawMessage is raw JSON, not binary).
func isBinary(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 &&
		t != rawType && !t.Implements(marshalerType) && !t.Implements(textMarshType)
}

var holdCache sync.Map // reflect.Type → bool

// mayHoldBytes reports whether a value of type t may contain a []byte that
// must become an attachment; when false, encoding/json handles it alone.
func mayHoldBytes(t reflect.Type) bool {
	if v, ok := holdCache.Load(t); ok {
		return v.(bool)
	}
	r := holdsBytes(t, map[reflect.Type]bool{})
	holdCache.Store(t, r)
	return r
}

func holdsBytes(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	if isBinary(t) {
		return true
	}
	if t.Implements(marshalerType) || t.Implements(textMarshType) {
		return false
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsBytes(t.Elem(), seen)
	case reflect.Map:
		return holdsBytes(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			sf := t.Field(i)
			if (sf.IsExported() || sf.Anonymous) && sf.Tag.Get("json") != "-" && holdsBytes(sf.Type, seen) {
				return true
			}
		}
	}
	return false
}

// SplitArray splits a JSON array into its elements without decoding them.
// The elements share raw's memory.
func SplitArray(raw json.RawMessage) ([]json.RawMessage, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return nil, errors.New("parser: not a JSON array")
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		if skipSpace(raw, i+1) != len(raw) {
			return nil, errors.New("parser: data after the JSON array")
		}
		return nil, nil
	}
	// An event is its name, an argument or two and the offset: one
	// allocation instead of three while appending.
	out := make([]json.RawMessage, 0, 4)
	for {
		end, err := skipValue(raw, i)
		if err != nil {
			return nil, err
		}
		out = append(out, raw[i:end])
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return nil, errors.New("parser: unterminated JSON array")
		}
		if raw[i] == ']' {
			break
		}
		if raw[i] != ',' {
			return nil, errors.New("parser: malformed JSON array")
		}
		i = skipSpace(raw, i+1)
	}
	if skipSpace(raw, i+1) != len(raw) {
		return nil, errors.New("parser: data after the JSON array")
	}
	return out, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at b[i]. It checks
// the value is well formed with json.Valid once its extent is known.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("parser: missing JSON value")
	}
	end := scanValue(b, i)
	if end > len(b) || !json.Valid(b[i:end]) {
		return 0, errors.New("parser: malformed JSON value")
	}
	return end, nil
}

// scanValue returns the end of the value starting at b[i] (i < len(b)) by
// matching brackets and strings; the result may exceed len(b) for an
// unterminated string. It does not validate.
func scanValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		i = skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			i++
			if depth == 0 {
				break
			}
		}
	default:
		for i < len(b) && !isDelim(b[i]) {
			i++
		}
	}
	return i
}

// skipString returns the index after the string starting at b[i], or
// len(b)+1 when it is unterminated.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b) + 1
}

// Unmarshal decodes one JSON value that may contain placeholders into v,
// like json.Unmarshal. A placeholder becomes the []byte attachment it names,
// for []byte targets and for interface targets (inside any, []any,
// map[string]any and interface-typed struct fields alike). A placeholder
// naming a missing attachment is an error.
func Unmarshal(raw json.RawMessage, attachments [][]byte, v any) error {
	if len(attachments) == 0 || !bytes.Contains(raw, []byte(`"_placeholder"`)) {
		return json.Unmarshal(raw, v)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &json.InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	// First pass: placeholders become base64 strings, which encoding/json
	// decodes into []byte targets at any depth.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return err
	}
	tree, err := substitute(tree, attachments)
	if err != nil {
		return err
	}
	b64, err := json.Marshal(tree)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b64, v); err != nil {
		return err
	}
	// Second pass: interface-typed slots now hold base64 strings where the
	// sender had binary; put the bytes themselves there.
	return fixInterfaces(rv.Elem(), raw, attachments)
}

// substitute replaces placeholder objects in a decoded tree by their
// attachments.
func substitute(v any, att [][]byte) (any, error) {
	switch t := v.(type) {
	case []any:
		for i, e := range t {
			r, err := substitute(e, att)
			if err != nil {
				return nil, err
			}
			t[i] = r
		}
	case map[string]any:
		if isPlaceholder(t) {
			if n, ok := t["num"].(json.Number); ok {
				f, err := n.Float64()
				if err == nil {
					t["num"] = f
				}
			}
			k, err := placeholderNum(t, len(att))
			if err != nil {
				return nil, err
			}
			return att[k], nil
		}
		for key, e := range t {
			r, err := substitute(e, att)
			if err != nil {
				return nil, err
			}
			t[key] = r
		}
	}
	return v, nil
}

// fixInterfaces walks v alongside its JSON source and, for every interface
// value whose source holds placeholders, decodes it again generically with
// the attachments substituted as []byte.
func fixInterfaces(v reflect.Value, raw json.RawMessage, att [][]byte) error {
	if !v.CanInterface() || !bytes.Contains(raw, []byte(`"_placeholder"`)) {
		return nil // read-only (unexported) values keep what encoding/json set
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.NumMethod() != 0 || !v.CanSet() {
			return nil
		}
		var tree any
		if err := json.Unmarshal(raw, &tree); err != nil {
			return err
		}
		tree, err := substitute(tree, att)
		if err != nil {
			return err
		}
		if tree == nil {
			v.SetZero()
		} else {
			v.Set(reflect.ValueOf(tree))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			return fixInterfaces(v.Elem(), raw, att)
		}
	case reflect.Slice, reflect.Array:
		if isBinary(v.Type()) {
			return nil
		}
		elems, err := SplitArray(raw)
		if err != nil {
			return nil // not an array: json.Unmarshal already decided
		}
		for i := 0; i < len(elems) && i < v.Len(); i++ {
			if err := fixInterfaces(v.Index(i), elems[i], att); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.IsNil() || v.Type().Key().Kind() != reflect.String {
			return nil
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		et := v.Type().Elem()
		for k, r := range obj {
			kv := reflect.ValueOf(k).Convert(v.Type().Key())
			cur := v.MapIndex(kv)
			if !cur.IsValid() {
				continue
			}
			// Map elements are not addressable: fix a copy, then store it.
			cp := reflect.New(et).Elem()
			cp.Set(cur)
			if err := fixInterfaces(cp, r, att); err != nil {
				return err
			}
			v.SetMapIndex(kv, cp)
		}
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		var err error
		eachField(v, func(name string, f reflect.Value, _ bool) bool {
			r, ok := obj[name]
			if !ok {
				// encoding/json matches keys case-insensitively too.
				for k, kr := range obj {
					if strings.EqualFold(k, name) {
						r, ok = kr, true
						break
					}
				}
			}
			if ok {
				err = fixInterfaces(f, r, att)
			}
			return err == nil
		})
		return err
	}
	return nil
}

func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ']', '}':
		return true
	}
	return false
}

// String decodes raw, one JSON string, like json.Unmarshal into a string
// would. Event names and offsets are decoded for every packet, and almost
// none has an escape, so those are copied without encoding/json.
func String(raw json.RawMessage) (string, error) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' {
		s := raw[1 : n-1]
		plain := true
		for _, c := range s {
			if c == '\\' || c == '"' || c < 0x20 {
				plain = false
				break
			}
		}
		// encoding/json replaces invalid UTF-8; leave that to it.
		if plain && utf8.Valid(s) {
			return string(s), nil
		}
	}
	var v string
	err := json.Unmarshal(raw, &v)
	return v, err
}
